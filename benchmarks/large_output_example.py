"""Train a softmax classifier over a large label space three ways (docs/large_output.md).

    python benchmarks/large_output_example.py [--classes 8192 --dim 64 --train 65536
                                               --epochs 3 --batch 512]

The data are generated here, offline and from a seed: V classes with Zipfian
frequencies (class k drawn with probability proportional to 1 / (k + 1), so
the classes are sorted by decreasing frequency, as the log-uniform sampler
assumes), each a random unit prototype in R^D; an example is its class's
prototype plus Gaussian noise.  A linear classifier ``scores = x @ W.T + b``
is trained by minibatch SGD with momentum on

* ``full``: ``sx.linear_cross_entropy`` (the exact softmax loss, chunked),
* ``sampled``: ``sx.sampled_softmax_loss`` (S candidates, log-uniform sampler),
* ``negative``: ``sx.negative_sampling_loss`` (K negatives, noise = label
  frequencies ** 0.75, as word2vec),

and evaluated by the top-1 accuracy of the full argmax over the V classes on
held-out examples.  Per method: accuracy after each epoch, seconds per epoch
and the peak memory traced during an epoch beyond the data and the model
(tracemalloc; NumPy reports its buffers to it).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import sigmax as sx

MiB = 2.0**20


def make_data(n_classes, dim, n_train, n_test, noise=0.35, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((n_classes, dim)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    freq = 1.0 / np.arange(1, n_classes + 1)
    freq /= freq.sum()

    def draw(n):
        y = rng.choice(n_classes, size=n, p=freq)
        x = protos[y] + (noise / np.sqrt(dim)) * rng.standard_normal((n, dim),
                                                                      dtype=np.float32)
        return x.astype(np.float32), y

    return draw(n_train), draw(n_test), freq


def accuracy(W, b, x, y, block=4096):
    """Top-1 accuracy of the full argmax, in row blocks (the scores are never all held)."""
    hits = 0
    for i in range(0, len(y), block):
        scores = x[i:i + block] @ W.T + b
        hits += int(np.sum(np.argmax(scores, axis=1) == y[i:i + block]))
    return hits / len(y)


def step_fn(method, args, freq):
    if method == "full":
        return lambda x, W, y, b, seed: sx.linear_cross_entropy.value_and_grad(x, W, y, bias=b)
    if method == "sampled":
        return lambda x, W, y, b, seed: sx.sampled_softmax_loss.value_and_grad(
            x, W, y, bias=b, num_sampled=args.sampled, seed=seed)
    noise = freq**0.75
    return lambda x, W, y, b, seed: sx.negative_sampling_loss.value_and_grad(
        x, W, y, bias=b, num_negatives=args.negatives, noise=noise, seed=seed)


def train(method, data, freq, args):
    (xtr, ytr), (xte, yte) = data
    V, D = args.classes, args.dim
    W = np.zeros((V, D), np.float32)
    b = np.zeros(V, np.float32)
    mW, mb = np.zeros_like(W), np.zeros_like(b)
    step = step_fn(method, args, freq)
    rng = np.random.default_rng(1)
    lr = args.lr[method]
    history = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(ytr))
        tracemalloc.start()
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(ytr), args.batch)):
            idx = order[i:i + args.batch]
            loss, (_, dW, db) = step(xtr[idx], W, ytr[idx], b, epoch * 10**6 + k)
            # SGD with momentum 0.9.
            mW *= 0.9
            mW += dW
            mb *= 0.9
            mb += db
            W -= lr * mW
            b -= lr * mb
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        history.append(dict(epoch=epoch + 1, loss=float(loss), seconds=seconds,
                            peak_mib=peak / MiB, accuracy=accuracy(W, b, xte, yte)))
    return history


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=8192)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--train", type=int, default=65536)
    p.add_argument("--test", type=int, default=8192)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--sampled", type=int, default=512, help="S of the sampled softmax")
    p.add_argument("--negatives", type=int, default=20, help="K of negative sampling")
    p.add_argument("--methods", default="full,sampled,negative")
    args = p.parse_args(argv)
    # Learning rates for a 'mean' loss: on a smaller run (V=2048, 2 epochs) the
    # largest of {2, 10, 40} (softmax losses) and of {0.5, 2, 8} (negative
    # sampling: a sigmoid per pair, larger per-row gradients) learned best;
    # these are set a little above them, without a further search.
    args.lr = dict(full=50.0, sampled=50.0, negative=10.0)
    train_set, test_set, freq = make_data(args.classes, args.dim, args.train, args.test)
    print(f"V={args.classes} D={args.dim} train={args.train} test={args.test} "
          f"batch={args.batch} epochs={args.epochs} S={args.sampled} K={args.negatives}")
    print("| method | epoch | last batch loss | accuracy | s / epoch | peak MiB |")
    print("|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        for h in train(method, (train_set, test_set), freq, args):
            print(f"| {method} | {h['epoch']} | {h['loss']:.4f} | {h['accuracy']:.4f} | "
                  f"{h['seconds']:.2f} | {h['peak_mib']:.1f} |")


if __name__ == "__main__":
    main()
