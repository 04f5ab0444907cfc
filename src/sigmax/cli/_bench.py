"""``sigmax bench``: hands its arguments to ``sigmax._bench.main`` (the benchmarks module)."""

from __future__ import annotations

import importlib

from ._console import CommandError


def run(argv) -> int:
    try:
        bench = importlib.import_module("sigmax._bench")
    except ModuleNotFoundError as exc:
        if exc.name != "sigmax._bench":
            raise CommandError(f"the benchmarks need {exc.name}, which is not installed: "
                               "pip install 'sigmax[dev]'", code=1) from None
        raise CommandError("the benchmarks module (sigmax._bench) is unavailable in this "
                           "installation", code=1) from None
    return int(bench.main(list(argv)) or 0)
