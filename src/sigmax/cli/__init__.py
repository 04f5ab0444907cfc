"""The ``sigmax`` command line (SPEC section 6)."""

from ._main import main

__all__ = ["main"]
