import numpy as np

import sigmax as sx


def test_public_names_are_function_objects():
    for name in sx.__all__:
        if name.startswith("__"):
            continue
        f = getattr(sx, name)
        assert callable(f)
        assert f.__name__ == name
        assert f.__doc__ and "Examples" in f.__doc__


def test_softmax_rows_sum_to_one():
    x = np.random.default_rng(0).normal(size=(5, 7))
    np.testing.assert_allclose(sx.softmax(x).sum(-1), 1.0, rtol=1e-15)
