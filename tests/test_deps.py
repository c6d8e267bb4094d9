"""Pins behaviour of dependencies that broke offline or with newer releases (see pyproject.toml comments)."""

from datatrove.utils.hashing import HashConfig, create_hash_func


def test_datatrove_xxhash_hashes_str():
    # datatrove 0.10.1 passes str to xxhash; xxhash 4.x raises "Strings must be encoded before hashing".
    h = create_hash_func(HashConfig(precision=64, hash_fc="xxhash"))
    assert h("대한민국") == h("대한민국") != h("대한민국.")
    assert 0 <= h("text") < 2**64
