"""The figures of ``sigmax tour`` and ``sigmax plot`` (PNG files, matplotlib's Agg backend).

Each function draws one figure into a file and returns its path:

* :func:`elementwise` - an elementwise function and its derivative (seed 3's
  sigmoid plot, ``sigmoid.derivative`` beside it);
* :func:`softmax_surface` - the first output of the 2-D softmax over the
  ``(x, y)`` plane, with the ``y = 0`` slice (the sigmoid) outlined (seed 3);
* :func:`logit_roundtrip` - the error of ``logit(sigmoid(x))``, the naive pair
  against sigmax's (seed 1), in float32 on the seed's range and in float64 out
  to where the naive ``exp`` overflows;
* :func:`reliability` - a calibration (reliability) diagram of predicted
  probabilities against observed frequencies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _elementwise as ew
from .. import _softmax as sm
from ._console import pyplot

__all__ = ["elementwise", "softmax_surface", "logit_roundtrip", "reliability",
           "reliability_curve", "naive_sigmoid", "naive_logit"]

#: The elementwise functions ``sigmax plot`` knows, with the range drawn.
RANGES = {"sigmoid": (-8.0, 8.0), "log_sigmoid": (-8.0, 8.0), "softplus": (-8.0, 8.0),
          "logit": (1e-3, 1 - 1e-3)}


def naive_sigmoid(x):
    """Seed 1's ``sigmo``: ``1 / (1 + exp(-x))`` (overflows for x < -709 in float64)."""
    return 1.0 / (1.0 + np.exp(-x))


def naive_logit(p):
    """Seed 1's ``logit``: ``log(p / (1 - p))``."""
    return np.log(p / (1.0 - p))


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path


def elementwise(path, name: str = "sigmoid") -> Path:
    """Plot the elementwise function ``name`` and its derivative."""
    plt = pyplot()
    f = getattr(ew, name)
    lo, hi = RANGES[name]
    x = np.linspace(lo, hi, 801)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(x, f(x), label=f"{name}(x)", color="tab:blue")
    ax.plot(x, f.derivative(x), label=f"{name}.derivative(x)", color="tab:orange")
    ax.axhline(0.0, color="0.8", lw=0.8)
    ax.set_xlabel("p" if name == "logit" else "x")
    ax.set_title(f"sigmax.{name} and its derivative")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def softmax_surface(path, lim: float = 6.0, n: int = 61) -> Path:
    """The 2-D softmax ``softmax([x, y])[0]`` as a surface; the slice ``y = 0`` is sigmoid(x)."""
    plt = pyplot()
    g = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(g, g)
    zz = sm.softmax(np.stack([xx, yy], axis=-1), axis=-1)[..., 0]
    fig = plt.figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(xx, yy, zz, cmap="viridis", alpha=0.8, linewidth=0)
    ax.plot(g, np.zeros_like(g), ew.sigmoid(g), color="red", lw=2.5,
            label="y = 0: sigmoid(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("softmax([x, y])[0]")
    ax.set_title("2-D softmax: a sigmoid in x - y")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def _roundtrip_error(x):
    """``|f(x) - x| / max(|x|, 1)`` for the naive and the sigmax round trip (inf where not finite)."""
    with np.errstate(all="ignore"):
        naive = naive_logit(naive_sigmoid(x))
    stable = ew.logit(ew.sigmoid(x))
    xs = x.astype(np.float64)
    scale = np.maximum(np.abs(xs), 1.0)
    out = []
    for y in (naive, stable):
        err = np.abs(y.astype(np.float64) - xs) / scale
        out.append(np.where(np.isfinite(err), err, np.inf))
    return out


def logit_roundtrip(path) -> Path:
    """Error of ``logit(sigmoid(x))``: seed 1's naive pair against sigmax's.

    Left, float32 (PyTorch's default) on the seed's range ``[-20, 20)``;
    right, float64 on ``[-745, 40]``.  Points where the result is not finite
    are drawn on the top edge, in the panel's cap.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0))
    panels = [(np.arange(-20.0, 20.0, 1e-3).astype(np.float32), "float32, seed range", 1.0),
              (np.linspace(-745.0, 40.0, 20001), "float64", 1.0)]
    for ax, (x, title, cap) in zip(axes, panels):
        naive, stable = _roundtrip_error(x)
        tiny = np.finfo(x.dtype).eps / 16
        for err, label, color in ((naive, "naive log(p/(1-p)) of 1/(1+exp(-x))", "tab:red"),
                                  (stable, "sigmax logit(sigmoid(x))", "tab:blue")):
            shown = np.clip(np.where(np.isinf(err), cap, err), tiny, cap)
            ax.semilogy(x, shown, ".", ms=1.5, color=color, label=label)
        ax.set_ylim(tiny, cap * 2)
        ax.set_xlabel("x")
        ax.set_ylabel("|logit(sigmoid(x)) - x| / max(|x|, 1)")
        ax.set_title(f"round trip, {title} (top edge: inf/NaN)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower left", markerscale=6, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def reliability_curve(prob, outcome, bins: int = 10):
    """Mean predicted probability, observed frequency and count in ``bins`` equal bins."""
    prob = np.asarray(prob, dtype=np.float64).ravel()
    outcome = np.asarray(outcome, dtype=np.float64).ravel()
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins)
    keep = count > 0
    mean_p = np.bincount(idx, weights=prob, minlength=bins)[keep] / count[keep]
    freq = np.bincount(idx, weights=outcome, minlength=bins)[keep] / count[keep]
    return mean_p, freq, count[keep]


def reliability(path, curves: dict, bins: int = 10) -> Path:
    """Reliability diagram: for each ``label: (prob, outcome)``, frequency against confidence."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", label="perfectly calibrated")
    for label, (prob, outcome) in curves.items():
        mean_p, freq, _ = reliability_curve(prob, outcome, bins)
        ax.plot(mean_p, freq, "o-", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration on the held-out digits")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
