"""One base for every error that is the user's to fix: a bad config, data, package, experiment or cluster.

`str()` of a `UserError` is the one line shown to the user; `core.cli.run` prints it as `error: ...`
and exits with code 2, with no traceback. Anything else that escapes is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(ValueError):
    """A problem in the user's input or environment; `str()` is the one-line message (exit code 2)."""
