"""Errors that reach the user as one line naming the input and the problem."""


class InputError(ValueError):
    """A user-supplied file or value is unusable.

    `str(err)` is a single line of the form ``"<path>: <problem>"`` so that the
    command-line front end can print it as it is and exit non-zero.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


def require_file(path, kind):
    """Checks that `path` names a non-empty file; returns it as a str.

    Args:
        path: str or os.PathLike.
        kind: what the file should be, for the directory message ("an audio or video file").

    Raises:
        InputError: missing, a directory, or empty.
    """
    import os

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, f"is a directory, not {kind}")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file")
    return path
