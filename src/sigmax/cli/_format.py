"""Plain-text tables for the command line (no dependency beyond the standard library)."""

from __future__ import annotations


def table(header, rows) -> str:
    """Format ``rows`` (lists of strings) under ``header`` as aligned columns."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
