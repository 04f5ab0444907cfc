"""``sigmax tour``: the seeds' examples, run for real, with their identities checked.

The tour walks through every example of the four documents sigmax was born
from (``shared/seeds``), computes each with sigmax, prints the numbers and
checks the identity or the printed values the document states.  Then it
trains the two classifiers on the bundled digits, single-label with softmax
and multi-label with sigmoids, and writes its figures to a folder.  The exit
status is 1 if any check fails.  Nothing here touches the network.

The steps live in three modules: ``_tour_activations`` (sigmoid vs softmax,
translation, overflow, axes, thresholds, logit round trip), ``_tour_gradients``
(the losses and the derivatives) and ``_tour_models`` (the classifiers).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.text import Text

from ._console import console as _stdout

HELP = """The main job: the seeds' examples with real numbers, every identity checked.

Sigmoid vs softmax on a batch, the 2-class identity softmax(x) = sigmoid(x - flip(x)),
translation invariance, the overflow the max shift prevents, softmax along an axis and
softmax2d, the cat/dog/cow/zebra threshold, logit(sigmoid(x)) naive vs stable, nll_loss vs
cross_entropy, sigmoid + binary_cross_entropy vs binary_cross_entropy_with_logits, the
derivatives and the einsum Jacobian vs the O(n) VJP (timed); then SoftmaxClassifier on the
digits (single-label) and SigmoidClassifier on even / >= 5 / prime (multi-label).  The
exit status is 1 if a check fails; the figures go to --out.  Offline, under a minute."""

#: The figures the tour writes, by file name.
FIGURES = ("sigmoid.png", "softmax_2d.png", "logit_roundtrip.png", "calibration.png")


class Tour:
    """Prints the steps, collects the identity checks and the figures written.

    Parameters
    ----------
    console : rich.console.Console
        Where the tour prints.
    out_dir : path or None
        Folder for the figures; ``None`` draws none.
    """

    def __init__(self, console: Console | None = None, out_dir=None):
        self.console = console or _stdout
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.checks: list[tuple[str, bool]] = []
        self.figures: list[Path] = []

    def out(self, item="", markup: bool = False):
        """Print a line (plain text unless ``markup``: arrays hold brackets) or a rich table."""
        self.console.print(item, soft_wrap=isinstance(item, str), markup=markup)

    def section(self, title: str):
        self.out("")
        self.console.rule(Text(title, style="bold"), align="left")

    def show(self, label: str, value):
        text = np.array2string(np.asarray(value), precision=4, suppress_small=False)
        if "\n" in text:
            self.out(f"{label}:")
            self.out("  " + text.replace("\n", "\n  "))
        else:
            self.out(f"{label}: {text}")

    def check(self, label: str, ok) -> bool:
        ok = bool(ok)
        self.checks.append((label, ok))
        mark = "[green]ok[/green]" if ok else "[bold red]FAILED[/bold red]"
        self.console.print(f"  \\[{mark}] ", end="")
        self.out(label)
        return ok

    def figure(self, name: str, draw, *args):
        """Draw ``draw(path, *args)`` into ``out_dir / name`` (nothing without ``out_dir``)."""
        if self.out_dir is None:
            return None
        path = draw(self.out_dir / name, *args)
        self.figures.append(path)
        self.out(f"  figure: {path}")
        return path

    @property
    def failed(self) -> list[str]:
        return [label for label, ok in self.checks if not ok]


def steps():
    """The tour's steps in order (imported here so that ``--help`` stays fast)."""
    from . import _tour_activations as act
    from . import _tour_gradients as grad
    from . import _tour_models as models

    return [act.seed_batch, act.translation, act.axes_and_thresholds, act.logit_roundtrip,
            grad.slc_losses, grad.mlc_losses, grad.derivatives, models.classifiers]


def run_tour(console: Console | None = None, out_dir=None) -> Tour:
    """Run every step; return the :class:`Tour` with its checks and figures."""
    t = Tour(console, out_dir)
    t.out("[bold]sigmax tour[/bold]: the seeds' examples, computed and checked", markup=True)
    start = time.perf_counter()
    for step in steps():
        step(t)
    t.out("")
    n_ok = len(t.checks) - len(t.failed)
    t.out(f"[bold]{n_ok} of {len(t.checks)} checks passed[/bold] "
          f"in {time.perf_counter() - start:.1f} s", markup=True)
    for label in t.failed:
        t.out(f"FAILED: {label}")
    if t.figures:
        t.out(f"{len(t.figures)} figures written to {t.out_dir}")
    return t


def run(out: Path | None = None, figures: bool = True) -> int:
    """The command: the tour, figures to ``out`` (default ``./sigmax-tour``)."""
    out_dir = None if not figures else Path(out) if out is not None else Path("sigmax-tour")
    t = run_tour(out_dir=out_dir)
    return 1 if t.failed else 0
