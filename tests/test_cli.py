"""The ``sigmax`` command, driven as a user would: subprocesses, files, exit codes.

The tour runs once (a module fixture) and the tests that need its output or
figures share it.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sigmax as sx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sigmax_cmd(*args, cwd=None, timeout=300):
    """Run ``python -m sigmax ARGS`` and return the completed process."""
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "sigmax", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run ``sigmax ARGS`` in this process (the same entry point, without the start-up
    cost of a subprocess) in ``tmp_path``; return ``(status, stdout, stderr)``."""
    from sigmax.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    # CPU time of the child, not wall time: the suite shares two cores with others.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = sigmax_cmd("tour", "--out", out / "figures", cwd=out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, out / "figures", cpu


# -- the tour ---------------------------------------------------------------------

def test_tour_passes_every_check_offline_in_under_a_minute(tour):
    proc, _, cpu_seconds = tour
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAILED" not in proc.stdout
    n_ok, n_all = map(int, proc.stdout.split(" checks passed")[0].split()[-3::2])
    assert n_ok == n_all >= 45
    assert cpu_seconds < 60


@pytest.mark.parametrize("expected", [
    # seed 0
    "sigmoid(x) matches the seed's printed values",
    "softmax(x) == sigmoid(x - flip(x))",
    "[1 - sigmoid(x2 - x1), sigmoid(x2 - x1)] == softmax(x)",
    # seed 1
    "nn.Softmax(dim=0): matches the seed's printed output",
    "F.softmax(inp, dim=0): matches the seed's printed output",
    "softmax2d(x) == softmax(x, axis=1)",
    "sigmoid of the seed's 5 logits matches its printed output",
    "cat / dog / cow / zebra",
    "sigmoid with threshold 3 (on the logits) keeps two classes: cat and zebra",
    "the naive round trip overflows below -709",
    "ohe (one-hot target)",
    "sx.cross_entropy(x, target) == nll_loss(log_softmax(x), target)",
    "sigmoid + binary_cross_entropy == binary_cross_entropy_with_logits",
    # seed 2
    "softmax([2.0, 1.0, 0.1]) == [0.6590, 0.2424, 0.0986]",
    "the naive formula gives NaN, sigmax does not",
    # seed 3
    "seed 3's sigmoid_back(da, z) = da * a * (1 - a) == sigmoid.vjp(z, da)",
    "softmax.vjp equals the einsum Jacobian product",
    "one max for the whole array leaves a row 0/0 = NaN",
    "gradient == (softmax(x) - onehot) / batch (a - y)",
    # the classifiers
    "SoftmaxClassifier gets >= 95% of the held-out digits right",
    "SigmoidClassifier: hamming loss <= 0.1",
])
def test_tour_covers_the_seeds(tour, expected):
    assert expected in tour[0].stdout


def test_tour_writes_non_empty_pngs(tour):
    _, figures, _ = tour
    names = sorted(p.name for p in figures.iterdir())
    assert names == ["calibration.png", "logit_roundtrip.png", "sigmoid.png", "softmax_2d.png"]
    for name in names:
        data = (figures / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, name


def test_sigmoid_figure_is_not_blank(tour):
    import matplotlib.image

    img = matplotlib.image.imread(tour[1] / "sigmoid.png")[..., :3]
    assert img.shape[0] > 200 and img.shape[1] > 300
    white = np.all(img > 0.98, axis=-1)
    assert 0.5 < white.mean() < 0.99  # mostly background, but something is drawn
    # The two curves: blue (sigmoid) and orange (its derivative), matplotlib's C0 and C1.
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.3)
    orange = (img[..., 0] > 0.9) & (img[..., 1] > 0.4) & (img[..., 1] < 0.6) & \
        (img[..., 2] < 0.2)
    assert blue.sum() > 300 and orange.sum() > 300


def test_tour_without_figures_writes_nothing(tmp_path):
    proc = sigmax_cmd("tour", "--no-figures", cwd=tmp_path)
    assert proc.returncode == 0 and "figure:" not in proc.stdout
    assert list(tmp_path.iterdir()) == []


# -- help, entry points, missing extras ---------------------------------------------

@pytest.mark.parametrize("command", ["tour", "compare", "plot", "apply", "train", "bench"])
def test_every_command_has_help(cli, command):
    code, out, err = cli(command, "--help")
    assert code == 0, err
    assert f"sigmax {command}" in out.lower().replace("usage: ", "")


def test_root_help_version_and_unknown_command(cli):
    proc = sigmax_cmd("--help")  # python -m sigmax
    assert proc.returncode == 0
    for command in ("tour", "compare", "plot", "apply", "train", "bench"):
        assert command in proc.stdout
    assert cli("--version")[:2] == (0, f"sigmax {sx.__version__}\n")
    code, _, err = cli("nope")
    assert code == 2 and "No such command 'nope'" in err


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("sigmax")
    proc = subprocess.run([script, "compare", "1", "2"], capture_output=True, text=True)
    assert proc.returncode == 0 and "softmax(x) == sigmoid(x - flip(x)): True" in proc.stdout


def test_import_sigmax_imports_no_optional_library():
    code = ("import sys, sigmax, sigmax.cli; "
            "print(sorted(m for m in ('typer', 'rich', 'matplotlib', 'sklearn', 'click') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_without_the_cli_extra_the_command_names_it():
    code = ("import sys; sys.modules['typer'] = None; "  # `import typer` now fails
            "from sigmax.cli import main; sys.exit(main(['tour']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "pip install 'sigmax[cli]'" in proc.stderr and "Traceback" not in proc.stderr


# -- compare, plot, bench -----------------------------------------------------------

def test_compare_reads_negative_numbers_as_logits():
    proc = sigmax_cmd("compare", "-0.3", "-0.7", "0.3", "0.7")
    assert proc.returncode == 0
    assert "[0.4256, 0.3318]" in proc.stdout and "[0.5987, 0.4013]" in proc.stdout
    assert "softmax(x) == sigmoid(x - flip(x)): True" in proc.stdout

def test_compare_row_size_error(cli):
    code, _, err = cli("compare", "1", "2", "3", "--row-size", "2")
    assert code == 2
    assert "sigmax compare: error: --row-size 2 does not divide the 3 logits" in err


def test_plot_writes_the_named_figures(tmp_path):
    proc = sigmax_cmd("plot", "softplus", "logit", "--out", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    for name in ("softplus.png", "logit.png"):
        assert (tmp_path / "p" / name).read_bytes()[:8] == PNG_MAGIC


def test_plot_unknown_figure(cli):
    code, _, err = cli("plot", "cosine")
    assert code == 2 and "unknown figure 'cosine'; expected one of" in err


def test_bench_is_wired_to_the_benchmarks_module(cli):
    code, out, err = cli("bench", "--help")
    if importlib.util.find_spec("sigmax._bench") is None:
        assert code == 1
        assert "the benchmarks module (sigmax._bench) is unavailable" in err
    else:  # the module's own options
        assert code == 0 and "usage: sigmax bench" in out
        code, _, err = cli("bench", "--no-such-option")
        assert code == 2 and "unrecognized arguments" in err
