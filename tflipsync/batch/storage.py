"""Files of the Beam jobs on any filesystem Beam reads: local paths, gs://, s3:// and the others.

The per-clip and per-row code (PyAV, TFRecord, the muxer) reads and writes local files, so a
worker copies a remote input to a local temporary file first and uploads a finished output after.
Outputs appear whole or not at all: a local one through tflipsync/files.py's temporary name and
rename, a remote one because an object store shows an object only once its upload completes.
"""

import contextlib
import os
import shutil
import tempfile

from tflipsync import files
from tflipsync.errors import InputError

CHUNK = 1 << 20


def is_local(path):
    """Whether `path` is on the local filesystem (no URL scheme)."""
    return "://" not in str(path)


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def _uncompressed():
    from apache_beam.io.filesystem import CompressionTypes

    return CompressionTypes.UNCOMPRESSED  # a .gz name is still copied byte for byte


def exists(path):
    return os.path.exists(path) if is_local(path) else _filesystems().exists(path)


def existing(paths, folder):
    """The set of `paths` (all below `folder`) that exist: one listing of `folder` on an object
    store rather than a request per path."""
    if is_local(folder):
        return {path for path in paths if os.path.exists(path)}
    listed = set(BeamFiles.files_under(BeamFiles(), folder)) if BeamFiles().isdir(folder) else set()
    return {path for path in paths if path in listed}


def join(folder, *parts):
    return os.path.join(folder, *parts) if is_local(folder) else _filesystems().join(folder, *parts)


class BeamFiles:
    """A filesystem Beam reads, as tflipsync.corpus.preprocess.find_videos lists it (its
    LocalFiles for local paths). Object stores have no folders: a "folder" is a prefix with
    objects below it."""

    @staticmethod
    def _match(pattern):
        return sorted(m.path for m in _filesystems().match([pattern])[0].metadata_list)

    def isdir(self, path):
        return not self.isfile(path) and bool(self._match(path.rstrip("/") + "/**"))

    @staticmethod
    def isfile(path):
        return _filesystems().exists(path) and not path.endswith("/")

    @staticmethod
    def isabs(path):
        return not is_local(path) or path.startswith("/")

    @staticmethod
    def join(folder, path):
        return _filesystems().join(folder, path)

    def files_under(self, folder):
        return self._match(folder.rstrip("/") + "/**")

    def glob(self, pattern):
        return self._match(pattern)

    @staticmethod
    def relative(path, base):
        base = base.rstrip("/") + "/"
        return path[len(base):] if path.startswith(base) else path.rsplit("/", 1)[-1]

    @staticmethod
    def dirname(path):
        return path.rsplit("/", 1)[0]

    @staticmethod
    def read_lines(path):
        return read_text(path).splitlines()


def read_text(path):
    if is_local(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    with _filesystems().open(path, compression_type=_uncompressed()) as f:
        return f.read().decode("utf-8", errors="replace")


def write_text(path, text):
    """Writes `text` to `path` whole or not at all (see the module docstring)."""
    if is_local(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        files.write_bytes(path, text)
        return
    with _filesystems().create(path, mime_type="text/plain", compression_type=_uncompressed()) as f:
        f.write(text.encode("utf-8"))


@contextlib.contextmanager
def local_input(path):
    """Yields a local file with the bytes of `path`: `path` itself where it is local, else a
    temporary copy (removed afterwards) that keeps its extension."""
    if is_local(path):
        yield path
        return
    if not exists(path):
        raise InputError(path, "no such file")
    with tempfile.TemporaryDirectory(prefix="tflipsync-in-") as folder:
        local = os.path.join(folder, "input" + os.path.splitext(path.rsplit("/", 1)[-1])[1])
        with _filesystems().open(path, compression_type=_uncompressed()) as source, open(local, "wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
        yield local


def local_copy(path):
    """A named temporary file holding the bytes of the remote `path`, kept until it is closed
    (a worker's copy of a model file, read by every row)."""
    copy = tempfile.NamedTemporaryFile(prefix="tflipsync-model-", suffix=files.extension(path.rsplit("/", 1)[-1]))
    with _filesystems().open(path, compression_type=_uncompressed()) as source:
        shutil.copyfileobj(source, copy, CHUNK)
    copy.flush()
    return copy


@contextlib.contextmanager
def local_output(path):
    """Yields a local file name for the output `path`: `path` itself where it is local (the
    writer must write it atomically, as tflipsync's writers do), else a temporary name whose file,
    if the block wrote one and ended without an error, is then uploaded to `path`."""
    if is_local(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tflipsync-out-") as folder:
        local = os.path.join(folder, path.rsplit("/", 1)[-1])
        yield local
        if os.path.exists(local):
            with open(local, "rb") as source, _filesystems().create(
                    path, mime_type="application/octet-stream", compression_type=_uncompressed()) as target:
                shutil.copyfileobj(source, target, CHUNK)


def remove_leftovers(path):
    """Removes the temporary files a killed writer of the local output `path` left behind (a
    remote output has none: its upload either completed or never showed)."""
    if is_local(path):
        for leftover in files.leftover_temporaries(path):
            files.remove(leftover)
