"""Entry point of the ``sigmax`` command: parses arguments, runs a subcommand.

Each subcommand lives in its own module and exposes ``add_parser(subparsers)``,
which registers its arguments and sets ``func`` to the function that runs it
(returning an exit code).
"""

from __future__ import annotations

import argparse
import sys

from . import _compare, _tour

_COMMANDS = (_tour, _compare)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="sigmax",
        description="Sigmoid, softmax and their relatives: exact, fast, with derivatives.",
    )
    parser.add_argument("--version", action="version", version=f"sigmax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (TypeError, ValueError) as exc:
        print(f"sigmax {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `sigmax tour | head`
        return 0
