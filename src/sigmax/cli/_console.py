"""What every subcommand shares: the rich console, tables, progress bars, errors, figures.

Only the command line imports this module (``import sigmax`` never does), so
``rich`` is imported at the top; matplotlib is imported on first use, with the
Agg backend (there may be no display), and its absence is reported by naming
the extra that provides it.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

__all__ = ["CommandError", "console", "err_console", "table", "progress", "pyplot",
           "require"]

# Wide enough that the tour's tables never wrap when stdout is a pipe or a file
# (rich then assumes 80 columns).
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "100"))

#: Normal output (stdout).
console = Console(width=_WIDTH, highlight=False)
#: Progress bars and errors (stderr), so that stdout stays clean for pipes.
err_console = Console(stderr=True, highlight=False)


class CommandError(Exception):
    """A user error a subcommand reports: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def require(module: str, extra: str):
    """Import ``module`` or raise a :class:`CommandError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CommandError(
            f"this command needs {module.split('.')[0]}: pip install 'sigmax[{extra}]'",
            code=1) from None


def table(header, rows, title: str | None = None) -> Table:
    """A rich table of ``rows`` (sequences of cells) under ``header``."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for name in header:
        t.add_column(str(name))
    for row in rows:
        t.add_row(*(str(c) for c in row))
    return t


def progress(transient: bool = False) -> Progress:
    """A progress bar on stderr: description, bar, done/total, elapsed, remaining."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
                    transient=transient)


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
