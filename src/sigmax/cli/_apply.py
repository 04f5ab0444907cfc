"""``sigmax apply FUNC INPUT [-o OUTPUT] [--axis]``: a function over a file, in row blocks.

Inputs and outputs are ``.npy`` (memory-mapped: the array is never loaded
whole), ``.csv`` (numbers, an optional header row) or ``.parquet`` (numeric
columns; needs pyarrow, the ``parquet`` extra).  The file is read in blocks of
rows, so a file larger than memory works, with a progress bar on stderr.

Elementwise functions and reductions within each row (``--axis -1``, the
default) need one pass.  A reduction down the columns (``--axis 0``: the axis
the blocks cut) takes two: the first keeps each block's
``logsumexp(block, axis=0)``; the second computes each block's ``softmax`` /
``log_softmax`` along axis 0 with one more row appended, the logsumexp of all
the other blocks, which gives the function over the whole column from
sigmax's own core (and its SPEC section 4 rules).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import sigmax as sx

from .. import _policy
from ._console import CommandError, console, progress, require

ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus", "logit")
ALONG_AXIS = ("softmax", "log_softmax", "logsumexp")
FORMATS = (".npy", ".csv", ".parquet")


# -- readers: .shape, .dtype, .columns, .blocks(n) -> (array, progress units) ----

class _Npy:
    def __init__(self, path):
        self.array = np.load(path, mmap_mode="r", allow_pickle=False)
        if self.array.ndim == 0:
            raise CommandError(f"{path} holds a 0-d array; expected at least one dimension")
        self.shape, self.dtype, self.columns = self.array.shape, self.array.dtype, None
        self.total = self.shape[0]

    def blocks(self, n):
        for start in range(0, self.shape[0], n):
            block = np.asarray(self.array[start:start + n])
            yield block, block.shape[0]


class _Csv:
    def __init__(self, path):
        self.path = Path(path)
        with open(self.path) as f:
            first = f.readline()
        cells = [c.strip() for c in first.rstrip("\n").split(",")]
        try:
            [float(c) for c in cells]
            self.columns = None
        except ValueError:
            self.columns = cells
        self.dtype = np.dtype(np.float64)
        self.width = len(cells)
        self.total = self.path.stat().st_size
        self.shape = (None, self.width)

    def count_rows(self) -> int:
        """The number of data rows (one pass over the file, in binary chunks)."""
        with open(self.path, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        return lines - (self.columns is not None)

    def blocks(self, n):
        with open(self.path) as f:
            skipped = f.readline() if self.columns is not None else ""
            yield np.empty((0, self.width)), len(skipped)
            line_no = 1 + (self.columns is not None)
            while True:
                lines = [line for _, line in zip(range(n), f)]
                if not lines:
                    return
                try:
                    block = np.loadtxt(io.StringIO("".join(lines)), delimiter=",", ndmin=2,
                                       dtype=np.float64)
                except ValueError as exc:
                    raise CommandError(f"{self.path}, lines {line_no}-{line_no + len(lines) - 1}"
                                       f": not a table of {self.width} numbers ({exc})") from None
                if block.shape[1] != self.width:
                    raise CommandError(f"{self.path}, lines {line_no}-{line_no + len(lines) - 1}: "
                                       f"{block.shape[1]} columns; expected {self.width}")
                line_no += len(lines)
                yield block, sum(len(line) for line in lines)


class _Parquet:
    def __init__(self, path):
        pq = require("pyarrow.parquet", "parquet")
        pa = require("pyarrow", "parquet")
        self.file = pq.ParquetFile(path)
        schema = self.file.schema_arrow
        for field in schema:
            if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                    or pa.types.is_boolean(field.type)):
                raise CommandError(f"{path}: column {field.name!r} has type {field.type}; "
                                   "expected numeric columns only")
        self.columns = list(schema.names)
        self.dtype = np.dtype(np.float32) if all(
            pa.types.is_float32(f.type) for f in schema) else np.dtype(np.float64)
        self.total = self.file.metadata.num_rows
        self.shape = (self.total, len(self.columns))

    def blocks(self, n):
        for batch in self.file.iter_batches(batch_size=n):
            cols = [batch.column(i).to_numpy(zero_copy_only=False).astype(self.dtype)
                    for i in range(batch.num_columns)]
            yield np.column_stack(cols) if cols else np.empty((batch.num_rows, 0)), \
                batch.num_rows


def _reader(path: Path):
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise CommandError(f"{path}: unknown format {kind or '(no suffix)'!r}; expected "
                           f"{', '.join(FORMATS)}")
    return {".npy": _Npy, ".csv": _Csv, ".parquet": _Parquet}[kind](path)


# -- writers: .write(block), .close() ----------------------------------------

class _Writer:
    def __init__(self, path: Path, shape, dtype, columns):
        self.path, self.kind, self.dtype, self.columns = path, path.suffix.lower(), dtype, columns
        self.shape, self.row = shape, 0
        if self.kind == ".npy":
            self.out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        elif self.kind == ".csv":
            self.file = open(path, "w")
            if columns is not None:
                self.file.write(",".join(columns) + "\n")
        else:
            self.pa = require("pyarrow", "parquet")
            pq = require("pyarrow.parquet", "parquet")
            names = columns or [f"c{i}" for i in range(shape[1] if len(shape) > 1 else 1)]
            self.names = names
            self.file = pq.ParquetWriter(path, self.pa.schema(
                [(name, self.pa.from_numpy_dtype(dtype)) for name in names]))

    def write(self, block):
        block = np.asarray(block, dtype=self.dtype)
        if self.kind == ".npy":
            self.out[self.row:self.row + block.shape[0]] = block
        elif self.kind == ".csv":
            np.savetxt(self.file, block.reshape(block.shape[0], -1), delimiter=",",
                       fmt="%.17g" if self.dtype == np.float64 else "%.9g")
        else:
            flat = block.reshape(block.shape[0], -1)
            self.file.write_table(self.pa.table(
                {n: flat[:, i] for i, n in enumerate(self.names)}))
        self.row += block.shape[0]

    def close(self):
        if self.kind == ".npy":
            self.out.flush()
            del self.out
        else:
            self.file.close()


# -- the command ---------------------------------------------------------------

def _check_args(func, path, output, block_rows):
    if func not in ELEMENTWISE + ALONG_AXIS:
        raise CommandError(f"unknown function {func!r}; expected one of "
                           f"{', '.join(ELEMENTWISE + ALONG_AXIS)}")
    if block_rows < 1:
        raise CommandError(f"--block-rows must be a positive int; received {block_rows}")
    output = Path(output) if output is not None else path.with_name(
        f"{path.stem}_{func}{path.suffix}")
    if output.suffix.lower() not in FORMATS:
        raise CommandError(f"{output}: unknown output format {output.suffix or '(none)'!r}; "
                           f"expected {', '.join(FORMATS)}")
    if output.resolve() == path.resolve():
        raise CommandError(f"{output} is the input file; expected another output path")
    return output


def run(func: str, input, output=None, axis: int = -1, block_rows: int = 65536) -> int:
    path = Path(input)
    output = _check_args(func, path, output, block_rows)
    reader = _reader(path)
    ndim = len(reader.shape)
    f = getattr(sx, func)
    dtype = _policy.result_dtype(func, "x", reader.dtype)
    reduce_blocks = False
    if func in ALONG_AXIS:
        (axis,) = _policy.normalize_axis(axis, ndim, func, shape=reader.shape)
        reduce_blocks = axis == 0
    columns = reader.columns
    out_shape = reader.shape
    if func == "logsumexp":
        out_shape = reader.shape[1:] if reduce_blocks else tuple(
            s for i, s in enumerate(reader.shape) if i != axis)
        columns = reader.columns if reduce_blocks else ["logsumexp"]
    if reduce_blocks:
        parts, n_inf = _column_parts(reader, block_rows, func)
        col_lse = sx.logsumexp(parts, axis=0)
    if func == "logsumexp" and reduce_blocks:
        # One value per column: an array of the columns' shape, or one row of a table.
        if output.suffix.lower() == ".npy":
            np.save(output, col_lse.astype(dtype))
        else:
            writer = _Writer(output, (1, *out_shape), dtype, columns)
            writer.write(col_lse[None])
            writer.close()
        console.print(f"wrote {output}")
        return 0
    if out_shape[0] is None and output.suffix.lower() == ".npy":
        # A .npy header holds the shape: count the CSV's rows first (one cheap pass).
        out_shape = (reader.count_rows(), *out_shape[1:])
    writer = _Writer(output, out_shape, dtype, columns)
    try:
        with progress() as bar:
            task = bar.add_task(f"{func} {path.name}", total=reader.total)
            index = 0
            for block, units in reader.blocks(block_rows):
                if block.shape[0]:
                    if reduce_blocks:
                        res = _down_columns(block, index, parts, n_inf, func)
                        index += 1
                    elif func in ELEMENTWISE:
                        res = f(block)
                    else:
                        res = f(block, axis=axis)
                    writer.write(res)
                bar.advance(task, units)
    except BaseException:
        writer.close()
        output.unlink(missing_ok=True)  # no half-written file left behind
        raise
    writer.close()
    console.print(f"wrote {output} ({writer.row} rows)")
    return 0


def _column_parts(reader, block_rows, func):
    """Pass 1 down the columns: each block's ``logsumexp(block, axis=0)``, and the ``+inf`` count."""
    parts, n_inf = [], 0
    with progress() as bar:
        task = bar.add_task(f"{func}, pass 1 of 2", total=reader.total)
        for block, units in reader.blocks(block_rows):
            if block.shape[0]:
                block = block.astype(np.float64)
                parts.append(sx.logsumexp(block, axis=0))
                n_inf = n_inf + np.sum(block == np.inf, axis=0)
            bar.advance(task, units)
    return np.stack(parts), n_inf


def _down_columns(block, index, parts, n_inf, func):
    """Pass 2: ``softmax``/``log_softmax`` down the columns of block number ``index``.

    The other blocks enter as one more row, the logsumexp of their parts: the
    function of ``[block; rest]`` along axis 0 is the function over the whole
    column, computed by sigmax's own core (``x - logsumexp(x)`` would lose the
    relative accuracy of a log-probability near 0).
    """
    keep = np.ones(len(parts), dtype=bool)
    keep[index] = False
    rest = sx.logsumexp(parts, axis=0, where=keep.reshape(-1, *[1] * (parts.ndim - 1)))
    f = getattr(sx, func)
    out = f(np.concatenate([block.astype(np.float64), rest[None]]), axis=0)[:-1]
    if np.any(n_inf > 0):
        # +inf entries share a column's probability equally (SPEC section 4); the
        # rest row would count the other blocks' +inf entries as one.
        share = np.where(block == np.inf, 1.0 / np.maximum(n_inf, 1), 0.0)
        if func == "log_softmax":
            with np.errstate(divide="ignore"):
                share = np.log(share)
        out = np.where(n_inf > 0, share, out)
    return out
