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
