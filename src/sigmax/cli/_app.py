"""The typer application: one command per subcommand module, and the exit codes.

Each command below only parses its arguments and calls the ``run`` function
of its module (``_tour``, ``_compare``, ``_plot``, ``_apply``, ``_train``,
``_bench``), which returns the exit status.  Exit codes, for every command:

* 0 - success;
* 1 - a tour check failed, a missing optional dependency, an unavailable module;
* 2 - a usage error: bad arguments, a missing file, a bad column (one line on
  stderr, ``sigmax COMMAND: error: ...``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ._console import CommandError, err_console

_ARGS_AS_NUMBERS = {"ignore_unknown_options": True}  # `sigmax compare -0.3 0.7`
_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def _guard(name: str):
    """Turn a subcommand's user errors into one line on stderr and an exit status."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                code = fn(*args, **kwargs)
            except CommandError as exc:
                _fail(name, str(exc), exc.code)
            except FileNotFoundError as exc:
                _fail(name, f"no such file: {exc.filename or exc}", 2)
            except (TypeError, ValueError, OSError) as exc:
                _fail(name, str(exc), 2)
            except BrokenPipeError:  # e.g. `sigmax tour | head`
                raise typer.Exit(0) from None
            raise typer.Exit(int(code or 0))
        return inner
    return wrap


def _fail(name: str, message: str, code: int):
    err_console.print(f"sigmax {name}: error: {message}", markup=False, highlight=False,
                      soft_wrap=True)
    raise typer.Exit(code)


def _reflow(text: str) -> str:
    """Join each paragraph's lines (rich keeps hard line breaks in help texts)."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))


def _version(value: bool):
    if value:
        from .. import __version__

        typer.echo(f"sigmax {__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    """The ``sigmax`` application with all its commands."""
    from . import _tour

    app = typer.Typer(name="sigmax", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode="rich",
                      help="Sigmoid, softmax and their relatives: exact, fast, with "
                           "derivatives.  `sigmax tour` is the main job.")

    @app.callback()
    def _root(version: Annotated[bool, typer.Option(
            "--version", callback=_version, is_eager=True,
            help="Print the version and exit.")] = False):
        """Sigmoid, softmax and their relatives: exact, fast, with derivatives."""

    @app.command("tour", help=_reflow(_tour.HELP))
    @_guard("tour")
    def tour(out: Annotated[Path, typer.Option(
                 "--out", "-o", help="Folder for the figures (created if missing).")]
             = Path("sigmax-tour"),
             figures: Annotated[bool, typer.Option(
                 "--figures/--no-figures", help="Write the figures.")] = True):
        return _tour.run(out, figures=figures)

    @app.command("compare", context_settings=_ARGS_AS_NUMBERS)
    @_guard("compare")
    def compare(logits: Annotated[List[float], typer.Argument(
                    help="The logits; an even count is read as rows of 2.",
                    metavar="LOGIT...")],
                row_size: Annotated[Optional[int], typer.Option(
                    "--row-size", "-n", help="Entries per row (default: 2 for an even "
                                             "count, else one row).")] = None):
        """Print sigmoid(x), softmax(x) and sigmoid(x - flip(x)) side by side.

        For two classes softmax(x) equals sigmoid(x - flip(x)); sigmoid(x) alone is
        something else:  sigmax compare -0.3 -0.7 0.3 0.7
        """
        from . import _compare

        return _compare.run(logits, row_size)

    @app.command("plot")
    @_guard("plot")
    def plot(names: Annotated[Optional[List[str]], typer.Argument(
                 help="Figures to draw: sigmoid, log_sigmoid, softplus, logit, softmax, "
                      "roundtrip, calibration (default: all but calibration).",
                 metavar="[NAME]...")] = None,
             out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the PNGs.")]
             = Path("sigmax-plots")):
        """Draw the functions and their derivatives to PNG files."""
        from . import _plot

        return _plot.run(names or [], out)

    @app.command("apply")
    @_guard("apply")
    def apply(func: Annotated[str, typer.Argument(
                  help="sigmoid, log_sigmoid, softplus, logit, softmax, log_softmax or "
                       "logsumexp.")],
              input: Annotated[Path, typer.Argument(
                  help="A .npy, .csv or .parquet file of numbers.")],
              output: Annotated[Optional[Path], typer.Option(
                  "--output", "-o", help="Where to write (same formats; default: "
                                         "INPUT's name with _FUNC added).")] = None,
              axis: Annotated[int, typer.Option(
                  "--axis", "-a", help="Axis of softmax / log_softmax / logsumexp: -1 "
                                       "within each row, 0 down each column.")] = -1,
              block_rows: Annotated[int, typer.Option(
                  "--block-rows", help="Rows read and written at a time.")] = 65536):
        """Apply a sigmax function to a file, streaming in row blocks (files larger than memory work)."""
        from . import _apply

        return _apply.run(func, input, output, axis, block_rows)

    @app.command("train")
    @_guard("train")
    def train(data: Annotated[Optional[Path], typer.Argument(
                  help="A CSV file with a header row (default: scikit-learn's bundled "
                       "digits).")] = None,
              target: Annotated[Optional[str], typer.Option(
                  "--target", "-t", help="Column of single-label classes "
                                         "(SoftmaxClassifier).")] = None,
              multilabel: Annotated[Optional[str], typer.Option(
                  "--multilabel", "-m", help="Comma-separated 0/1 columns, one per label "
                                             "(SigmoidClassifier).")] = None,
              c: Annotated[float, typer.Option("--C", "-C", help="Inverse L2 penalty.")]
              = 1.0,
              hidden: Annotated[str, typer.Option(
                  "--hidden", help="Hidden layer widths, e.g. 64,32 (default: none, "
                                   "logistic regression).")] = "",
              test_size: Annotated[float, typer.Option(
                  "--test-size", help="Held-out fraction.")] = 0.25,
              seed: Annotated[int, typer.Option("--seed", help="Split and init seed.")] = 0,
              model: Annotated[Path, typer.Option(
                  "--model", "-o", help="Where to save the fitted model (pickle).")]
              = Path("sigmax-model.pkl")):
        """Train SoftmaxClassifier / SigmoidClassifier, print held-out metrics, save the model."""
        from . import _train

        return _train.run(data, target, multilabel, c, hidden, test_size, seed, model)

    @app.command("bench", context_settings=_PASSTHROUGH, add_help_option=False)
    @_guard("bench")
    def bench(ctx: typer.Context):
        """Run the CPU benchmarks (sigmax._bench); every argument, --help too, goes to it."""
        from . import _bench

        return _bench.run(list(ctx.args))

    return app
