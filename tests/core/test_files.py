"""Output files on real file systems: regular files only, symlinks followed, permissions."""

from __future__ import annotations

import os
import stat

import pytest

from pytest_modelbench.core.files import OutputPathError, check_output_path, write_text_atomic


def _write(text: str):
    return lambda stream: stream.write(text)


def test_a_new_file_gets_0666_minus_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "a.json", _write("{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    assert [path.name for path in tmp_path.iterdir()] == ["a.json"]  # no temporary file left


def test_an_existing_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    path.chmod(0o600)
    write_text_atomic(path, _write("new"))
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_followed_and_kept(tmp_path):
    target = tmp_path / "real" / "results.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    assert write_text_atomic(link, _write("new")) == target
    assert link.is_symlink() and target.read_text() == "new"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_device_is_never_replaced():
    with pytest.raises(OutputPathError, match=r"'/dev/full' is a character device; it was not replaced"):
        write_text_atomic("/dev/full", _write("x"))
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with pytest.raises(OutputPathError, match=r"'/dev/full' is a character device; give the path of a file"):
        check_output_path("/dev/full", "--modelbench-json")


def test_a_fifo_and_a_directory_are_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputPathError, match="is a named pipe"):
        write_text_atomic(tmp_path / "pipe", _write("x"))
    with pytest.raises(OutputPathError, match="is a directory"):
        write_text_atomic(tmp_path / "dir", _write("x"))
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")

    def fail(stream):
        stream.write("half")
        raise ValueError("NaN is not JSON")

    with pytest.raises(ValueError):
        write_text_atomic(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_check_output_path_cases(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output_path(tmp_path / "new" / "deeper" / "r.json", "x") == tmp_path / "new" / "deeper" / "r.json"
    with pytest.raises(OutputPathError, match=r"x '.*file/r.json' cannot be written: '.*file' is not a directory"):
        check_output_path(tmp_path / "file" / "r.json", "x")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere" / "deeper")
    with pytest.raises(OutputPathError, match=r"'.*broken' is a broken link"):
        check_output_path(tmp_path / "broken" / "r.json", "x")
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "dir")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputPathError, match=r"x '.*link.json' \(a link to '.*dir'\) is a directory"):
        check_output_path(link, "x")
