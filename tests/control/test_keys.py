"""CURVE key files: written in pairs, read back, never overwritten."""

from __future__ import annotations

import pytest

from liveimpro.control.keys import create_key_pair, read_key_pair


def test_a_pair_reads_back_and_the_public_file_holds_no_secret(tmp_path) -> None:
    public, secret = create_key_pair(tmp_path / "keys", "studio")
    public_key, none = read_key_pair(public)
    same_public, secret_key = read_key_pair(secret)
    assert none is None and public_key == same_public and len(secret_key) == 40
    assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["", "../x", ".hidden"])
def test_a_key_name_is_a_plain_file_name(tmp_path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        create_key_pair(tmp_path, name)


def test_missing_or_foreign_files_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="no key file"):
        read_key_pair(tmp_path / "nothing.key")
    (tmp_path / "notes.txt").write_text("not a key")
    with pytest.raises(ValueError, match="is no CURVE key file"):
        read_key_pair(tmp_path / "notes.txt")
