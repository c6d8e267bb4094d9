"""URL rules: one case per drop reason, the allowlist, user lists, Hangul words, offline datatrove lists."""

from __future__ import annotations

import socket

import pytest
from datatrove.data import Document

from lmpipe.stages.filter import url as U
from lmpipe.stages.filter.url import UrlConfig, UrlFilter


@pytest.fixture(scope="module")
def url_filter(tmp_path_factory):
    # datatrove's bundled UT1 lists load offline; a network call here would fail the test
    lists = tmp_path_factory.mktemp("lists")
    (lists / "blocked.txt").write_text("# our own list\nspam-news.example\n", encoding="utf-8")
    (lists / "allowed.txt").write_text("casino-history.example.org\n", encoding="utf-8")
    cfg = UrlConfig(
        blocked_domains=("badsite.example",),
        blocked_urls=("https://news.example.com/fake-article-123",),
        banned_words=("phishing",),
        banned_subwords=("불법대출",),
        allowed_domains=("kangwonland.example.kr",),
        blocked_domain_files=(str(lists / "blocked.txt"),),
        allowed_domain_files=(str(lists / "allowed.txt"),),
    )
    f = UrlFilter(cfg)
    real_connect = socket.socket.connect

    def no_network(*args, **kwargs):
        raise AssertionError("URL filter tried to use the network")

    socket.socket.connect = no_network
    try:
        f.check("https://warmup.example/")  # loads every list
    finally:
        socket.socket.connect = real_connect
    return f


def verdict(f: UrlFilter, url: str):
    d = Document(text="본문", id="u", metadata={"url": url})
    return f.filter(d), d


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://0-1avsex.com/index.html", U.URL_BLOCKED_DOMAIN),  # UT1 list in datatrove's wheel
        ("https://video.toto3141.tumblr.com/post/1", U.URL_BLOCKED_DOMAIN),  # listed parent domain
        ("https://www.badsite.example/a", U.URL_BLOCKED_DOMAIN),  # inline user list
        ("https://m.spam-news.example/", U.URL_BLOCKED_DOMAIN),  # user list file
        ("http://foo.xxx/", U.URL_BLOCKED_DOMAIN),  # the UT1 list blocks the .xxx TLD
        (
            "http://0149614511.strimbat.fr/porno-anal-escort-granville-faire-sa-salope-baise-une-vache-video-"
            "gratuite-x-escort-girl-auxerre",
            U.URL_BLOCKED_URL,
        ),
        ("https://news.example.com/fake-article-123/", U.URL_BLOCKED_URL),
        ("https://example.com/free-porn-videos", U.URL_BANNED_WORD),
        ("https://example.com/phishing/kit", U.URL_BANNED_WORD),
        ("https://example.com/hot-sexy-babes", U.URL_SOFT_BANNED_WORDS),
        ("https://blog.example.kr/토토사이트-추천-순위", U.URL_BANNED_SUBWORD),  # Hangul as typed
        # the same in percent-encoding, as crawls store it: 먹튀검증
        ("https://example.kr/%EB%A8%B9%ED%8A%80%EA%B2%80%EC%A6%9D", U.URL_BANNED_SUBWORD),
        ("https://xn--oi2b30g3ueowi6mjktg.com/", U.URL_BANNED_SUBWORD),  # IDNA host: 바카라사이트.com
        ("https://example.com/불법대출-상담", U.URL_BANNED_SUBWORD),  # user subword
        ("https://sportstoto-365.example.net/", U.URL_BANNED_SUBWORD),
    ],
)
def test_url_reasons(url_filter, url, reason):
    result, d = verdict(url_filter, url)
    assert result == (False, reason)
    assert d.metadata[U.URL_MATCH]


@pytest.mark.parametrize(
    "url",
    [
        "https://ko.wikipedia.org/wiki/%EB%8C%80%ED%95%9C%EB%AF%BC%EA%B5%AD",
        "https://www.yna.co.kr/view/AKR20240101000100001",
        "https://news.naver.com/main/read.naver?oid=001&aid=0012345678",
        "https://en.wikipedia.org/wiki/My_Neighbor_Totoro",
        "https://www.bbc.com/news/world-asia-12345678",
        "https://blog.example.kr/토토로-리뷰",  # Totoro, not 토토 gambling
    ],
)
def test_ordinary_urls_are_kept(url_filter, url):
    assert verdict(url_filter, url)[0] is True


def test_allowlist_overrides_every_rule(url_filter):
    for url in ("https://kangwonland.example.kr/casino/baccarat", "https://www.casino-history.example.org/porn"):
        result, d = verdict(url_filter, url)
        assert result is True and d.metadata[U.URL_ALLOWED] is True


def test_documents_without_url_are_kept(url_filter):
    assert url_filter.filter(Document(text="본문", id="n", metadata={})) is True


def test_missing_user_list_file_is_a_clear_error():
    f = UrlFilter(UrlConfig(use_datatrove_lists=False, blocked_domain_files=("/nonexistent/list.txt",)))
    with pytest.raises(FileNotFoundError, match="URL list file not found"):
        f.check("https://example.com/")


def test_parent_domains_and_normalize():
    assert U.parent_domains("a.b.example.co.kr") == [
        "a.b.example.co.kr", "b.example.co.kr", "example.co.kr", "co.kr", "kr"
    ]  # fmt: skip
    assert U.normalize_url("HTTPS://www.Example.com/Path/") == "example.com/path"
