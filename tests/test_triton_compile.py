"""The Triton kernels compile for an H100/H200 (sm_90) on a machine without a GPU.

Runs ``tests/triton_compile_sm90.py --smoke`` in a subprocess (the kernels
must be compiled, not interpreted, so ``TRITON_INTERPRET`` is unset there):
one variant of each kernel through Triton's compiler and the ``ptxas`` that
ships with triton.  Marked ``triton`` and ``slow`` (about half a minute).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("triton", reason="triton is not installed (extra sigmax[triton])")
pytest.importorskip("torch", reason="torch is not installed")

pytestmark = [pytest.mark.triton, pytest.mark.slow]

SCRIPT = pathlib.Path(__file__).with_name("triton_compile_sm90.py")


def test_kernels_compile_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True,
                       text=True, env=env, timeout=600)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(lines) == 7 and not any(ln.startswith("FAILED") for ln in lines), r.stdout
    for ln in lines:                       # ptxas reported on every variant
        assert "regs=-1" not in ln and "spill=-1" not in ln, ln
