"""``python -m sigmax``: the same as the ``sigmax`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
