"""Which files an input names: hidden and `_` names count only below the input folder; duplicates are refused."""

from pathlib import Path

import pytest

from lmpipe.core.listing import resolve_inputs
from lmpipe.core.records import InputError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("parent", [".cache/corpus", "_raw/corpus", ".hidden/_side/corpus"])
def test_input_folder_under_hidden_or_underscore_parent_is_read(tmp_path, parent):
    root = tmp_path / parent
    a = _touch(root / "a.jsonl")
    b = _touch(root / "sub" / "b.warc.gz")
    assert resolve_inputs([root]) == sorted([str(a.resolve()), str(b.resolve())])


def test_input_folder_that_is_itself_hidden_is_read(tmp_path):
    a = _touch(tmp_path / ".corpus" / "a.parquet")
    assert resolve_inputs([tmp_path / ".corpus"]) == [str(a.resolve())]


def test_relative_parent_input_is_read(tmp_path, monkeypatch):
    a = _touch(tmp_path / "x" / "a.txt")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_inputs(["../x"]) == [str(a.resolve())]
    assert resolve_inputs(["../x/a.txt"]) == [str(a.resolve())]


def test_relative_parent_input_under_underscore_folder(tmp_path, monkeypatch):
    """`--input ../x` from inside /data/_raw/job: the `_raw` above is no reason to skip anything."""
    a = _touch(tmp_path / "_raw" / "x" / "a.jsonl.gz")
    (tmp_path / "_raw" / "job").mkdir()
    monkeypatch.chdir(tmp_path / "_raw" / "job")
    assert resolve_inputs(["../x"]) == [str(a.resolve())]


def test_hidden_and_underscore_entries_inside_the_input_are_skipped(tmp_path):
    root = tmp_path / ".cache" / "corpus"
    kept = [_touch(root / "a.jsonl"), _touch(root / "deep" / "er" / "b.jsonl")]
    for skipped in (
        ".git/c.jsonl",
        ".hidden.jsonl",
        "_logs/d.jsonl",
        "_tmp/deep/e.jsonl",
        "_partial.jsonl",
        "deep/.cache/f.jsonl",
        "deep/_side/g.jsonl",
    ):
        _touch(root / skipped)
    _touch(root / "notes.md")  # unsupported suffix
    assert resolve_inputs([root]) == sorted(str(p.resolve()) for p in kept)


def test_only_skipped_entries_inside_is_no_supported_input(tmp_path):
    root = tmp_path / "corpus"
    _touch(root / "_logs" / "a.jsonl")
    _touch(root / ".b.jsonl")
    with pytest.raises(InputError, match="no supported input file"):
        resolve_inputs([root])


def test_symlinked_file_resolves_to_its_target_and_counts_as_duplicate(tmp_path):
    target = _touch(tmp_path / "store" / "a.jsonl")
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "link.jsonl").symlink_to(target)
    assert resolve_inputs([root]) == [str(target.resolve())]
    assert resolve_inputs([root / "link.jsonl"]) == [str(target.resolve())]
    with pytest.raises(InputError, match="more than once"):
        resolve_inputs([root, target])
    (root / "broken.jsonl").symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(InputError, match="does not exist"):
        resolve_inputs([root / "broken.jsonl"])
    assert resolve_inputs([root]) == [str(target.resolve())]  # a broken link in a folder is no file


def test_duplicates_refused_with_clear_error(tmp_path):
    a = _touch(tmp_path / "corpus" / "a.jsonl")
    _touch(tmp_path / "corpus" / "b.jsonl")
    with pytest.raises(InputError, match=r"input file given more than once: .*a\.jsonl$"):
        resolve_inputs([a, tmp_path / "corpus" / "b.jsonl", a])
    with pytest.raises(InputError, match=r"more than once: .*a\.jsonl \(and 1 more\)"):
        resolve_inputs([tmp_path / "corpus", tmp_path / "corpus"])


def test_duplicates_among_many_files_are_named_and_counted(tmp_path):
    """20,000 files named twice (40,000 entries): the first duplicate named, the rest counted. (Its cost, linear
    since the per-file files.count() went, is measured by benches/listing.py, not timed here.)"""
    root = tmp_path / "many"
    for d in range(100):
        (root / f"{d:02d}").mkdir(parents=True)
        for i in range(200):
            (root / f"{d:02d}" / f"{i:03d}.warc.gz").write_bytes(b"")
    found = resolve_inputs([root])
    assert len(found) == 20_000 and found == sorted(found)
    with pytest.raises(InputError, match=r"more than once: .*00/000\.warc\.gz \(and 19999 more\)"):
        resolve_inputs([root, root])
