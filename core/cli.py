"""The one runner every `python -m` entry goes through: a `UserError` becomes one line and exit code 2.

    @command
    def main(argv: Optional[list[str]] = None) -> int:
        ...                       # raises UserError subclasses for the user's mistakes

    if __name__ == "__main__":
        sys.exit(main())
"""
from __future__ import annotations

import functools
import sys
from typing import Callable, Optional

from core.errors import UserError

Main = Callable[[Optional[list[str]]], Optional[int]]


def command(main: Main) -> Callable[[Optional[list[str]]], int]:
    """`main` as an entry point: its exit code (None is 0); a `UserError` prints `error: ...` on stderr
    and gives 2, with no traceback. Other exceptions are bugs and keep theirs."""

    @functools.wraps(main)
    def entry(argv: Optional[list[str]] = None) -> int:
        try:
            return int(main(argv) or 0)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return entry
