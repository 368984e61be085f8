"""Errors a user can cause: the CLI prints their one line and exits non-zero, never a traceback."""


class UserError(Exception):
    """Bad input from the user (a file, a flag, a run folder): the message says what was expected and what came."""
