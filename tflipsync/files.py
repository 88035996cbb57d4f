"""Whole files: the one atomic writer every output goes through, and file digests.

An output appears under its name only once it is complete: it is written to a temporary file in
the same folder and renamed over the target; on any error or interruption (Ctrl-C included) the
temporary file is removed and the target is left as it was.
"""

import contextlib
import hashlib
import os
import tempfile


def temporary_path(out):
    """A temporary name in the output's folder with the output's extension (muxers pick the
    container by extension)."""
    folder, name = os.path.split(os.path.abspath(out))
    stem, extension = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.{os.getpid()}.partial{extension}")


@contextlib.contextmanager
def atomic_output(path, mode="wb"):
    """Opens a temporary file beside `path` for writing; renames it to `path` on success.

    Yields an open file object (`mode` "wb" or "w"). The finished file gets the permissions a
    plain open() gives under the user's umask (mkstemp alone would leave it private, 0600).
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".tflipsync-", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_bytes(path, data):
    """Writes `data` to `path` atomically (see atomic_output)."""
    with atomic_output(path) as f:
        f.write(data)


def sha256(path):
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
