"""Entry point of the ``sigmax`` command (console script ``sigmax = sigmax.cli:main``).

The command line is built with typer (and rich for its tables and progress
bars), both from the ``cli`` extra.  Neither is imported before :func:`main`
runs, so ``import sigmax`` and ``import sigmax.cli`` stay light; without them
the command exits with status 1 and says which extra to install.
"""

from __future__ import annotations

import sys

MISSING_EXTRA = ("sigmax: the command line needs typer and rich, which are not installed; "
                 "install them with:  pip install 'sigmax[cli]'")


def main(argv=None) -> int:
    """Run the ``sigmax`` command with ``argv`` (default ``sys.argv[1:]``); return its status."""
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        print(MISSING_EXTRA, file=sys.stderr)
        return 1
    from ._app import build_app

    app = build_app()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="sigmax")
    except SystemExit as exc:  # typer/click end every run with SystemExit
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0  # pragma: no cover - standalone mode always raises SystemExit
