"""``sigmax plot``: the functions, their derivatives and the round trip, as PNG files."""

from __future__ import annotations

from pathlib import Path

from . import _figures
from ._console import CommandError, console

#: Figure name -> (file name, how to draw it).
FIGURES = {
    **{name: (f"{name}.png", lambda path, name=name: _figures.elementwise(path, name))
       for name in _figures.RANGES},
    "softmax": ("softmax_2d.png", _figures.softmax_surface),
    "roundtrip": ("logit_roundtrip.png", _figures.logit_roundtrip),
    "calibration": ("calibration.png", None),
}
DEFAULT = [name for name in FIGURES if name != "calibration"]


def run(names, out: Path) -> int:
    names = list(names) or DEFAULT
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise CommandError(f"unknown figure {unknown[0]!r}; expected one of "
                           f"{', '.join(FIGURES)}")
    for name in names:
        filename, draw = FIGURES[name]
        if draw is None:  # the calibration plot needs fitted models
            from ._tour_models import calibration_figure

            path = calibration_figure(Path(out) / filename)
        else:
            path = draw(Path(out) / filename)
        console.print(f"wrote {path}")
    return 0
