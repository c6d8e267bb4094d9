"""The one text-to-fastText-line function, used at training and at scoring time (a test pins them equal).

fastText splits on ASCII whitespace only and averages the vectors of the words (and word bigrams) it knows.
Korean is agglutinative: 정부의, 정부가, 정부는 would be three unrelated words, so Korean text is split into
MeCab morphemes first (lmpipe/text/korean.py, the same splitting the rest of the pipeline uses). Other text is
lower-cased and split into word and punctuation tokens, so "Hello," and "hello" are one word.
"""

from __future__ import annotations

import re

from lmpipe.text.korean import has_syllables, morphemes

# \w+ keeps letters of every script together; each other visible character is its own token.
_WORDS = re.compile(r"\w+|[^\w\s]")
_WHITESPACE = re.compile(r"\s+")
# A document containing "__label__x" must not look like a training label to fastText.
_LABEL_PREFIX = "__label__"


def has_hangul(text: str, sample_chars: int = 2000) -> bool:
    """The classifier's language guess: any Hangul syllable in the first characters (lmpipe.text.korean)."""
    return has_syllables(text, sample_chars)


def fasttext_line(text: str, max_chars: int | None) -> str:
    """`text` as one fastText input line: tokens separated by single spaces, no newline.

    Only the first `max_chars` characters count (None: all): the classifier averages token vectors, so a page's
    first few thousand characters judge it nearly as well as the whole, at bounded cost.
    """
    if max_chars is not None:
        text = text[:max_chars]
    text = text.replace(_LABEL_PREFIX, " ")
    if has_hangul(text):
        tokens = morphemes(text.lower())
    else:
        tokens = _WORDS.findall(text.lower())
    # Tokens never hold whitespace, but MeCab may return one holding \x00 or other fastText separators.
    return _WHITESPACE.sub(" ", " ".join(tokens).replace("\x00", " ")).strip()
