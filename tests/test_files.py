"""The one atomic writer (tflipsync/files.py): complete files or nothing, the usual permissions."""

import os

import pytest

from tflipsync import files


def test_output_appears_only_when_complete(tmp_path):
    out = tmp_path / "a.json"
    with files.atomic_output(out, "w") as f:
        f.write("{}")
        assert not out.exists()  # still under its temporary name
        assert len(os.listdir(tmp_path)) == 1
    assert out.read_text() == "{}" and os.listdir(tmp_path) == ["a.json"]


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "a.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_output(out) as f:
            f.write(b"new, half")
            raise RuntimeError("interrupted")
    assert out.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_a_failed_folder_writer_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(tmp_path / "model") as temporary:
            os.makedirs(os.path.join(temporary, "variables"))
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temporary_names_keep_the_extension_formats_are_chosen_by(tmp_path):
    assert files.temporary_path(tmp_path / "g.weights.h5").endswith(".partial.weights.h5")
    assert files.temporary_path(tmp_path / "clip.mp4").endswith(".partial.mp4")
    assert files.temporary_path(tmp_path / "x.mp4") != files.temporary_path(tmp_path / "x.mp4")


def test_outputs_get_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        files.write_bytes(tmp_path / "a.png", b"\x89PNG")
        files.write_bytes(tmp_path / "b.txt", "text")
    finally:
        os.umask(old)
    for name in ("a.png", "b.txt"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").read_text() == "text"


def test_sha256_of_a_file(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    assert files.sha256(tmp_path / "x") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
