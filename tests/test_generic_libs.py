"""The array libraries the array-API path is tested on, and the routing to it.

``LIBS`` holds one entry per library: how to make its array from a NumPy array
and how to read a result back *in the test* (sigmax itself never converts).
A library that is not installed is skipped with the extra that provides it.
The ``numpy`` entry runs the generic path on NumPy arrays through
``sigmax._generic.call``, so that the two NumPy paths can be compared.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import sigmax as sx
from sigmax import _generic

BF16 = np.dtype(ml_dtypes.bfloat16)


class Lib:
    """An array library: ``to(ndarray)``, ``back(result)`` and ``apply(f, method, ...)``."""

    name = "?"
    module = "?"
    extra = "dev"
    dtypes = (np.float64, np.float32, np.float16, BF16)

    def available(self):
        return importlib.util.find_spec(self.module) is not None

    def skip_unless_available(self):
        if not self.available():
            pytest.skip(f"{self.module} is not installed (the sigmax[{self.extra}] extra)")

    def to(self, a):
        raise NotImplementedError

    def back(self, y):
        raise NotImplementedError

    def is_native(self, y):
        raise NotImplementedError

    def apply(self, f, method, *args, **kwargs):
        return getattr(f, method)(*args, **kwargs)


class Torch(Lib):
    name, module, extra = "torch", "torch", "torch"

    def to(self, a):
        import torch

        a = np.asarray(a)
        if a.dtype == BF16:
            return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        return torch.from_numpy(a.copy())

    def back(self, y):
        import torch

        if y.dtype == torch.bfloat16:
            return y.detach().to(torch.float32).numpy().astype(BF16)
        return y.detach().numpy()

    def is_native(self, y):
        import torch

        return isinstance(y, torch.Tensor)


class Jax(Lib):
    name, module, extra = "jax", "jax", "jax"

    def to(self, a):
        import jax.numpy as jnp

        return jnp.asarray(a)

    def back(self, y):
        return np.asarray(y)

    def is_native(self, y):
        import jax

        return isinstance(y, jax.Array)


class Dask(Lib):
    name, module, extra = "dask", "dask", "dask"

    def to(self, a):
        import dask.array as da

        a = np.asarray(a)
        # Two chunks along every axis of length > 1: the reductions cross chunks.
        return da.from_array(a, chunks=tuple(max(1, (n + 1) // 2) for n in a.shape))

    def back(self, y):
        return np.asarray(y.compute())

    def is_native(self, y):
        import dask.array as da

        return isinstance(y, da.Array)


class Strict(Lib):
    name, module = "array_api_strict", "array_api_strict"
    dtypes = (np.float64, np.float32)      # the standard has no float16 / bfloat16

    def to(self, a):
        import array_api_strict as xs

        return xs.asarray(np.asarray(a))

    def back(self, y):
        return np.from_dlpack(y)

    def is_native(self, y):
        import array_api_strict as xs

        return isinstance(y, type(xs.asarray(0.0)))


class NumpyGeneric(Lib):
    name, module = "numpy-generic", "array_api_compat"

    def to(self, a):
        return np.asarray(a)

    def back(self, y):
        return np.asarray(y)

    def is_native(self, y):
        return isinstance(y, (np.ndarray, np.generic))

    def apply(self, f, method, *args, **kwargs):
        return _generic.call(f, method, *args, **kwargs)


LIBS = [Torch(), Jax(), Dask(), Strict(), NumpyGeneric()]


@pytest.fixture(params=LIBS, ids=lambda lib: lib.name)
def lib(request):
    lib = request.param
    lib.skip_unless_available()
    if lib.name == "jax":
        import jax

        with jax.enable_x64(True):
            yield lib
        return
    yield lib


def back_all(lib, y):
    """Read back a result or a tuple of results, checking each is the library's own type."""
    if isinstance(y, tuple):
        return tuple(back_all(lib, a) for a in y)
    assert lib.is_native(y), f"{lib.name}: got {type(y).__name__}"
    return lib.back(y)


# ----------------------------------------------------------------------------
# Tests of the routing itself.

class TestRouting:
    def test_import_sigmax_imports_no_array_library(self):
        code = ("import sys, sigmax; bad = [m for m in ('torch', 'jax', 'dask', "
                "'array_api_compat', 'array_api_strict') if m in sys.modules]; "
                "assert not bad, bad")
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_handler_is_registered(self):
        from sigmax._function import Function

        assert Function._foreign_handler is _generic._handle

    def test_numpy_input_takes_the_numpy_path(self, monkeypatch):
        def fail(*args):
            raise AssertionError("the NumPy path was not taken")

        monkeypatch.setattr(_generic, "_handle", fail)
        assert sx.sigmoid(np.array([0.0]))[0] == 0.5

    def test_call_needs_an_array(self):
        with pytest.raises(TypeError, match="softmax: the array-API path needs an array"):
            _generic.call(sx.softmax, "__call__", "abc")

    def test_torch_result_never_passes_through_numpy(self, monkeypatch):
        torch = pytest.importorskip("torch", reason="sigmax[torch] extra")

        def no_array(self, *args, **kwargs):
            raise AssertionError("__array__ was called on a tensor")

        monkeypatch.setattr(torch.Tensor, "__array__", no_array)
        x = torch.tensor([[1.0, -float("inf")], [0.5, 2.0]])
        for f in (sx.sigmoid, sx.log_sigmoid, sx.softplus, sx.logit, sx.softmax,
                  sx.log_softmax, sx.logsumexp):
            assert isinstance(f(x), torch.Tensor)
        assert isinstance(sx.softmax.vjp(x, torch.ones(2, 2)), torch.Tensor)
        assert isinstance(sx.softmax.jacobian(x), torch.Tensor)

    def test_numpy_cotangent_with_a_tensor(self):
        torch = pytest.importorskip("torch", reason="sigmax[torch] extra")
        x = np.array([0.5, -1.0, 2.0])
        got = sx.softmax.vjp(torch.from_numpy(x), np.array([1.0, 0.0, 0.0]))
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), sx.softmax.vjp(x, [1.0, 0.0, 0.0]), rtol=1e-15)

    def test_dask_result_never_passes_through_numpy(self, monkeypatch):
        da = pytest.importorskip("dask.array", reason="sigmax[dask] extra")

        def no_array(self, *args, **kwargs):
            raise AssertionError("__array__ was called on a dask array")

        x = da.from_array(np.array([[1.0, -np.inf, 3.0], [0.5, 2.0, -1.0]]), chunks=(1, 2))
        monkeypatch.setattr(da.Array, "__array__", no_array)
        for f in (sx.sigmoid, sx.softmax, sx.log_softmax, sx.logsumexp):
            y = f(x)
            assert isinstance(y, da.Array)
            y.compute()


def test_result_is_on_the_input_device(lib):
    import array_api_compat

    x = lib.to(np.array([[0.5, -1.0], [2.0, -np.inf]]))
    for f in (sx.sigmoid, sx.softmax, sx.logsumexp):
        y = lib.apply(f, "__call__", x)
        assert lib.is_native(y)
        assert array_api_compat.device(y) == array_api_compat.device(x)
