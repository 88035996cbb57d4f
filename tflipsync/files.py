"""Whole files: the one atomic writer every output goes through, and file digests.

An output appears under its name only once it is complete: it is written under a temporary name
in the same folder and renamed over the target; on any error or interruption (Ctrl-C included)
the temporary file is removed and the target is left as it was. `atomic_path` hands writers that
need a file name (Keras, TFRecord, muxers, savefig) the temporary name; `atomic_output` opens it.
"""

import contextlib
import hashlib
import os
import secrets
import shutil


def temporary_path(out):
    """A fresh temporary name in the output's folder that keeps the output's extension (muxers and
    Keras pick the format by extension)."""
    folder, stem, extension = _temporary_parts(out)
    return os.path.join(folder, f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{extension}")


def extension(name):
    """The extension a reader picks the format by: `os.path.splitext`'s, but all of `.weights.h5`
    (Keras wants the whole of it)."""
    stem, ext = os.path.splitext(name)
    return ".weights" + ext if stem.endswith(".weights") else ext


def _temporary_parts(out):
    folder, name = os.path.split(os.path.abspath(out))
    ext = extension(name)
    return folder, name[:len(name) - len(ext)], ext


def leftover_temporaries(out):
    """Temporary files of `out` (temporary_path's names) that a killed writer left behind: a
    SIGKILL or a lost machine runs no clean-up. Only call it where no other writer is at work on
    `out` (a rerun of a batch, whose rows each own their output)."""
    import re

    folder, stem, extension = _temporary_parts(out)
    pattern = re.compile(re.escape(f".{stem}.") + r"\d+-[0-9a-f]{8}" + re.escape(f".partial{extension}"))
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(os.path.join(folder, name) for name in names if pattern.fullmatch(name))


def remove(path):
    """Removes a file or folder if it exists (a temporary output left by a failed writer)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary name beside `path`; renames what was written there to `path` on success.

    The file gets the permissions its writer gave it (a plain open() under the user's umask).
    """
    temporary = temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        remove(temporary)
        raise


@contextlib.contextmanager
def atomic_output(path, mode="wb"):
    """Yields a file object open for writing (`mode` "wb" or "w", text as UTF-8) that becomes
    `path` once the block ends without an error (see atomic_path)."""
    with atomic_path(path) as temporary:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f


def write_bytes(path, data):
    """Writes `data` (bytes, or str as UTF-8) to `path` atomically."""
    with atomic_output(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def sha256(path):
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
