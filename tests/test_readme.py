"""The README's quick start runs, and says what it computes."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _quick_start():
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quick_start_runs_and_its_comments_hold():
    ns = {}
    exec(compile(_quick_start(), str(README), "exec"), ns)
    np.testing.assert_allclose(ns["p"].sum(axis=1), 1.0)
    assert np.isneginf(ns["lp"][3, 0]) and not np.isnan(ns["lp"]).any()
    assert ns["J"].shape == (4, 2, 2)
    assert ns["d"] == 4.248354255291589e-18
    # cross-entropy's gradient is (softmax - onehot) / N
    onehot = np.eye(2)[ns["y"]]
    np.testing.assert_allclose(ns["dx"], (ns["p"] - onehot) / 4, rtol=1e-14)
    assert np.isfinite(ns["bce"]) and ns["bce"] > 0


def test_the_readme_names_the_commands_ci_runs():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pip install -e '.[dev]' 'torch==2.13.0'" in text
    assert "python -m pip install -e '.[dev]' 'torch==2.13.0'" in ci
    assert "python -m pytest -n 2" in text and "python -m pytest -n 2" in ci
