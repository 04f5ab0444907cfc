"""``sigmax apply`` and ``sigmax train`` on files, as a user runs them (subprocesses)."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cli import cli, sigmax_cmd  # noqa: F401  (cli is a fixture)

import sigmax as sx


@pytest.fixture
def logits(rng):
    x = rng.normal(size=(300, 6)) * 20
    x[4] = -np.inf  # an empty row: softmax 0, log_softmax -inf (SPEC section 4)
    x[7, 2] = np.inf  # a +inf logit takes the whole row and, with axis 0, its column
    x[:, 5] = -np.inf  # an empty column
    return x


def _expected(func, x, axis):
    f = getattr(sx, func)
    return f(x) if func in ("sigmoid", "log_sigmoid", "softplus") else f(x, axis=axis)


# -- apply ----------------------------------------------------------------------

@pytest.mark.parametrize("func, axis", [("softmax", -1), ("log_softmax", -1), ("softmax", 0),
                                        ("log_softmax", 0), ("logsumexp", -1),
                                        ("logsumexp", 0), ("log_sigmoid", -1)])
def test_apply_npy_in_blocks_equals_the_function(cli, tmp_path, logits, func, axis):
    src = tmp_path / "x.npy"
    np.save(src, logits)
    out = tmp_path / "y.npy"
    # 300 rows in blocks of 64: no block size divides them.
    code, _, err = cli("apply", func, src, "-o", out, "--axis", axis, "--block-rows", 64)
    assert code == 0, err
    got, want = np.load(out), _expected(func, logits, axis)
    assert got.shape == want.shape and got.dtype == want.dtype
    # Within a row the blocks change nothing (bit for bit); down the columns the
    # two passes give x - logsumexp, within a few ULPs of the one-shot result.
    if axis == -1:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    assert not np.isnan(got).any()


def test_apply_keeps_float32_and_memory_maps_the_input(tmp_path, rng):
    x = rng.normal(size=(1000, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = sigmax_cmd("apply", "sigmoid", tmp_path / "x.npy", "--block-rows", 100)
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "x_sigmoid.npy")  # the default output name
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, sx.sigmoid(x))
    assert "1000/1000" in proc.stderr  # the progress bar counted every row


def test_apply_csv_with_header(tmp_path, logits):
    src = tmp_path / "x.csv"
    np.savetxt(src, logits[:50], delimiter=",", header="a,b,c,d,e,f", comments="")
    proc = sigmax_cmd("apply", "softmax", src, "-o", tmp_path / "y.csv", "--block-rows", 7)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "y.csv").read_text().splitlines()
    assert lines[0] == "a,b,c,d,e,f" and len(lines) == 51
    got = np.loadtxt(tmp_path / "y.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(got, sx.softmax(logits[:50], axis=-1))  # %.17g round-trips
    lse = sigmax_cmd("apply", "logsumexp", src, "-o", tmp_path / "l.npy")
    assert lse.returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), sx.logsumexp(logits[:50]))


def test_apply_parquet_columns(tmp_path, logits):
    src = tmp_path / "x.parquet"
    pq.write_table(pa.table({f"c{i}": logits[:, i] for i in range(6)}), src)
    out = tmp_path / "y.parquet"
    proc = sigmax_cmd("apply", "log_softmax", src, "-o", out, "--axis", 0, "--block-rows", 50)
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    assert table.schema.names == [f"c{i}" for i in range(6)]
    got = np.column_stack([c.to_numpy() for c in table.columns])
    np.testing.assert_allclose(got, sx.log_softmax(logits, axis=0), rtol=1e-13)


@pytest.mark.parametrize("args, message", [
    (["softmax", "missing.npy"], "sigmax apply: error: no such file: missing.npy"),
    (["cosine", "x.npy"], "unknown function 'cosine'; expected one of sigmoid, log_sigmoid"),
    (["softmax", "x.npy", "--axis", "2"],
     "softmax: axis 2 is out of range for x with 2 dimensions (shape (3, 2)); expected an "
     "int in [-2, 1]"),
    (["softmax", "x.npy", "-o", "y.txt"], "y.txt: unknown output format '.txt'; expected"),
    (["softmax", "x.npy", "--block-rows", "0"], "--block-rows must be a positive int"),
    (["softmax", "bad.csv"], "bad.csv, lines 2-3: not a table of 2 numbers"),
    (["softmax", "s.parquet"], "s.parquet: column 'name' has type string; expected numeric"),
])
def test_apply_errors_name_the_problem(cli, tmp_path, args, message):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    pq.write_table(pa.table({"name": ["a"], "v": [1.0]}), tmp_path / "s.parquet")
    code, _, err = cli("apply", *args)
    assert code == 2
    assert message in err, err
    assert not (tmp_path / "bad_softmax.csv").exists()  # no half-written output


# -- train ----------------------------------------------------------------------

def test_train_on_the_bundled_digits_saves_both_heads(tmp_path):
    proc = sigmax_cmd("train", "--model", tmp_path / "m.pkl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "the bundled digits: 1347 training rows, 450 held out" in proc.stdout
    assert "SoftmaxClassifier" in proc.stdout and "SigmoidClassifier" in proc.stdout
    with open(tmp_path / "m.pkl", "rb") as f:
        saved = pickle.load(f)
    from sklearn.datasets import load_digits

    X, digit = load_digits(return_X_y=True)
    slc = saved["single_label"]["model"]
    assert saved["single_label"]["target"] == "digit" and slc.score(X, digit) > 0.95
    assert saved["multi_label"]["labels"] == ["even", ">= 5", "prime"]
    assert saved["multi_label"]["model"].predict(X[:5]).shape == (5, 3)


def test_train_on_a_csv(tmp_path, rng):
    n = 120
    x = rng.normal(size=(n, 3))
    kind = np.where(x[:, 0] + x[:, 1] > 0, "red", "blue")
    big = (x[:, 2] > 0).astype(int)
    rows = ["f0,f1,f2,kind,big"] + [f"{a},{b},{c},{k},{g}" for (a, b, c), k, g in
                                    zip(x, kind, big)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    proc = sigmax_cmd("train", "d.csv", "--target", "kind", "--multilabel", "big",
                      "--hidden", "4", "-o", "m.pkl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "m.pkl", "rb") as f:
        saved = pickle.load(f)
    assert saved["features"] == ["f0", "f1", "f2"]
    assert saved["single_label"]["model"][-1].hidden_layer_sizes == (4,)
    assert set(saved["single_label"]["model"].predict(x)) <= {"red", "blue"}


@pytest.mark.parametrize("args, message", [
    (["d.csv", "--target", "nope"], "d.csv: no column 'nope'; the columns are f0, f1, kind"),
    (["d.csv"], "give --target COL and/or --multilabel COL1,COL2,..."),
    (["d.csv", "--target", "kind", "--multilabel", "f0"],
     "d.csv: multi-label column 'f0' must hold 0 or 1 only"),
    (["d.csv", "--target", "f0", "--hidden", "4,x"],
     "--hidden must be comma-separated positive ints such as 64,32; received '4,x'"),
    (["gone.csv", "--target", "kind"], "sigmax train: error: no such file: gone.csv"),
    (["--target", "kind"], "--target and --multilabel name columns of DATA.csv"),
    (["d.csv", "--target", "f0", "--test-size", "1.5"], "--test-size must be in (0, 1)"),
])
def test_train_errors_name_the_problem(cli, tmp_path, args, message):
    (tmp_path / "d.csv").write_text("f0,f1,kind\n0.5,0,a\n1.5,1,b\n2.5,0,a\n")
    code, out, err = cli("train", *args)
    assert code == 2, out + err
    assert message in err
