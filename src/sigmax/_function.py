"""The function-object machinery (SPEC section 3).

Every public sigmax function is an instance of a small class derived from
:class:`Function`, in the manner of NumPy's ufuncs (``np.add.reduce``): the
object is called for its value and carries its derivatives as methods::

    sx.sigmoid(x)                 # the value
    sx.sigmoid.derivative(x)      # f'(x), elementwise functions only
    sx.softmax.vjp(x, g)          # gradient of sum(g * f(x)) w.r.t. x
    sx.softmax.jvp(x, v)          # directional derivative along v
    sx.softmax.jacobian(x)        # shape x.shape + (n,)
    sx.cross_entropy.value_and_grad(logits, target)

The objects are picklable (by reference, like functions), have a readable
``repr``, and expose the docstring and call signature of their value so that
``help()``, ``inspect.signature`` and IDEs show them.

Foreign arrays (PyTorch, JAX, CuPy, Dask, ...) are routed through
:meth:`Function._route`, which the array-API layer hooks into.
"""

from __future__ import annotations

import inspect

import numpy as np

from . import _dispatch, _policy

__all__ = ["Function", "ElementwiseFunction", "LossFunction", "is_numpy_input"]


def is_numpy_input(x) -> bool:
    """True for what the NumPy path handles: ndarrays, NumPy scalars, Python numbers and lists."""
    if isinstance(x, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        return True
    # Anything that is not an array object of another library.
    return not (hasattr(x, "__array_namespace__") or hasattr(x, "__dlpack__")
                or type(x).__module__.split(".")[0] in _FOREIGN_MODULES)


_FOREIGN_MODULES = frozenset({"torch", "jax", "jaxlib", "cupy", "dask", "array_api_strict"})


class Function:
    """Base class of sigmax's public function objects.

    Subclasses set ``name`` and a numpydoc class docstring, and define
    ``__call__`` plus the derivative methods that apply to them.  The methods a
    function offers are listed in ``methods``.
    """

    name: str = "function"
    kind: str = "function"
    methods: tuple = ()

    def __init__(self):
        self.__name__ = self.name
        self.__qualname__ = self.name
        self.__module__ = "sigmax"
        self.__doc__ = inspect.cleandoc(type(self).__doc__ or "")
        # Show the call signature of the value (without ``self``) to inspect/IDEs.
        self.__signature__ = inspect.signature(type(self).__call__).replace(
            parameters=list(inspect.signature(type(self).__call__).parameters.values())[1:]
        )

    def __call__(self, *args, **kwargs):  # pragma: no cover - always overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        methods = ", ".join(self.methods)
        return f"<sigmax.{self.name}: {self.kind} function; methods: {methods}>"

    def __reduce__(self):
        # Pickle by reference, like a module-level function.
        return self.name

    def _method_name(self, method: str | None) -> str:
        """The name used in error messages, e.g. ``softmax.vjp``."""
        return self.name if method is None else f"{self.name}.{method}"

    # ------------------------------------------------------------------
    # Routing of foreign arrays.  The array-API layer (sigmax._generic)
    # registers itself here; without it, foreign arrays are converted by
    # NumPy like any other array-like.
    _foreign_handler = None

    def _route(self, method: str, args, kwargs):
        """Return the foreign result for ``method`` or ``NotImplemented``."""
        handler = Function._foreign_handler
        if handler is None:
            return NotImplemented
        if all(is_numpy_input(a) for a in args if a is not None):
            return NotImplemented
        return handler(self.name, method, args, kwargs)


class ElementwiseFunction(Function):
    """An elementwise function ``y = f(x)`` with ``derivative``, ``vjp`` and ``jvp``.

    Subclasses implement ``_forward(x)`` and ``_derivative(x)`` on float
    arrays in the compute dtype; the public methods validate, convert dtypes,
    silence floating-point warnings locally and round the result back.
    """

    kind = "elementwise"
    methods = ("derivative", "vjp", "jvp")
    argname = "x"

    def _forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _derivative(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _kernel(self, method, x, t=None):
        """The result of the compiled kernel path, or ``NotImplemented`` for the plain one."""
        if self.name in _dispatch.ELEMENTWISE_KERNELS and _dispatch.use_kernel(x, "elementwise"):
            return _dispatch.kernels().elementwise_method(self, method, x, t)
        return NotImplemented

    def __call__(self, x):
        routed = self._route("__call__", (x,), {})
        if routed is not NotImplemented:
            return routed
        fast = self._kernel(None, x)
        if fast is not NotImplemented:
            return fast
        arr, out_dtype = _policy.as_input(x, self.name, self.argname)
        with np.errstate(all="ignore"):
            y = self._forward(arr)
        return _policy.finish(y, out_dtype)

    def derivative(self, x):
        """The derivative f'(x), elementwise, computed from ``x`` to full accuracy."""
        routed = self._route("derivative", (x,), {})
        if routed is not NotImplemented:
            return routed
        fast = self._kernel("derivative", x)
        if fast is not NotImplemented:
            return fast
        arr, out_dtype = _policy.as_input(x, self._method_name("derivative"), self.argname)
        with np.errstate(all="ignore"):
            d = self._derivative(arr)
        return _policy.finish(d, out_dtype)

    def _product(self, x, t, method: str, tname: str):
        fast = self._kernel(method, x, t)
        if fast is not NotImplemented:
            return fast
        fname = self._method_name(method)
        arr, out_dtype = _policy.as_input(x, fname, self.argname)
        tarr = _policy.check_cotangent(t, arr.shape, arr.dtype, fname, tname)
        with np.errstate(all="ignore"):
            d = self._derivative(arr)
            # A zero cotangent gives a zero gradient even where f' is infinite.
            out = np.where(tarr == 0, 0.0, tarr * d).astype(arr.dtype, copy=False)
        return _policy.finish(out, out_dtype)

    def vjp(self, x, g):
        """Gradient of ``sum(g * f(x))`` with respect to ``x``: ``g * f'(x)``.

        ``g`` must broadcast to ``x``'s shape.
        """
        routed = self._route("vjp", (x, g), {})
        if routed is not NotImplemented:
            return routed
        return self._product(x, g, "vjp", "g")

    def jvp(self, x, v):
        """Directional derivative of f at ``x`` along ``v``: ``f'(x) * v``.

        ``v`` must broadcast to ``x``'s shape.
        """
        routed = self._route("jvp", (x, v), {})
        if routed is not NotImplemented:
            return routed
        return self._product(x, v, "jvp", "v")


class LossFunction(Function):
    """A loss ``f(a, b, ...)`` with ``value_and_grad(a, b, ...) -> (loss, grad)``.

    ``grad`` is the gradient with respect to the first argument (a tuple over
    the float arguments for the large-output losses).  Subclasses define
    ``__call__`` and ``value_and_grad`` and share one fused core between them,
    so that ``value_and_grad`` never evaluates the forward pass twice.
    """

    kind = "loss"
    methods = ("value_and_grad",)
