"""Loaders for the image data sets of the GCE paper, from local files.

The paper (Zhang & Sabuncu, 2018) trains on CIFAR-10, CIFAR-100 and
FASHION-MNIST. These functions read the files as their authors distribute
them; nothing is downloaded. Fetch the files once yourself:

- CIFAR-10 / CIFAR-100, "python version": https://www.cs.toronto.edu/~kriz/cifar.html
  (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``);
- FASHION-MNIST: https://github.com/zalandoresearch/fashion-mnist
  (``train-images-idx3-ubyte.gz`` and the three other idx files).

A directory laid out by ``torchvision.datasets`` works too.

Every loader returns a :class:`~sklearn.utils.Bunch` with ``X_train``,
``y_train``, ``X_test``, ``y_test`` and ``classes``. Images are ``uint8``
arrays of shape ``(n_samples, channels, height, width)`` with the raw pixel
values 0..255: four times smaller than float32, and
:class:`~sklearn_gce.GCEClassifier` casts them to float32 itself. Scale or
standardise them in the network (as ``benchmarks/paper_reproduction.py``
does) or beforehand, e.g. ``X.astype(np.float32) / 255``. Labels are
``int64`` class ids indexing ``classes``.

For images, pass a convolutional network as ``module`` (the script has
ResNets); the default :class:`~sklearn_gce.MLP` flattens them and, with its
numeric embedding, adds 8 inputs per pixel: if you use it on pixels, set
``module__numeric_embedding=None``.
"""

import gzip
import io
import os
import pickle
import tarfile
import warnings
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_cifar10", "load_cifar100", "load_fashion_mnist"]

_CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST = ("test_batch",)
_CIFAR10_META = "batches.meta"

_CIFAR100_DIR = "cifar-100-python"
_CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"

_FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FASHION_MNIST_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


# --------------------------------------------------------------------- CIFAR
# The CIFAR python files are pickles. Unpickling can run arbitrary code, so
# only the few globals that a dict of numpy arrays, lists and bytes needs are
# allowed: a file that asks for anything else is not a CIFAR file.
_PICKLE_GLOBALS = {
    ("_codecs", "encode"),  # bytes pickled by Python 3 with protocol <= 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),  # the official files (numpy 1.x)
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5
    ("numpy._core.numeric", "_frombuffer"),
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: a CIFAR file holds "
                "only numpy arrays, lists and bytes"
            )
        with warnings.catch_warnings():
            # numpy 2 renamed numpy.core to numpy._core and warns on the old name.
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _unpickle(raw, where):
    """A dict from the bytes of a CIFAR pickle; ``where`` names the file in errors."""
    try:
        # encoding="bytes": the official files were written by Python 2.
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means a wrong file
        raise ValueError(
            f"{where} is not a file of the CIFAR python version (a pickled dict): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(
            f"{where} is not a file of the CIFAR python version: it holds a "
            f"{type(obj).__name__}, not a dict."
        )
    # Copies re-pickled after loading with encoding="latin1" (as torchvision
    # does) have str keys: accept them as the bytes keys of the official files.
    return {key.encode("utf-8") if isinstance(key, str) else key: value
            for key, value in obj.items()}


def _require_keys(obj, keys, where):
    missing = [key for key in keys if key not in obj]
    if missing:
        found = sorted(map(repr, obj))
        raise ValueError(
            f"{where} lacks the key(s) {', '.join(map(repr, missing))} of the CIFAR "
            f"python format; it has {', '.join(found) or 'none'}."
        )


class _Files:
    """The named members of a CIFAR data set, from a directory or a tar archive."""

    def __init__(self, path, directory, archive, names):
        self.path = path = Path(os.path.expanduser(os.fspath(path)))
        if not path.exists():
            raise FileNotFoundError(
                f"No such file or directory: '{path}'. Give the '{directory}' "
                f"directory (holding {', '.join(names)}), its parent, or the "
                f"'{archive}' archive."
            )
        if path.is_dir():
            for candidate in (path, path / directory):
                if all((candidate / name).is_file() for name in names):
                    self.raw = {name: (candidate / name).read_bytes() for name in names}
                    self.where = {name: str(candidate / name) for name in names}
                    return
            if (path / archive).is_file():
                path = path / archive
            else:
                looked = path / directory if (path / directory).is_dir() else path
                missing = [name for name in names if not (looked / name).is_file()]
                raise FileNotFoundError(
                    f"'{looked}' is not a CIFAR python directory: it lacks "
                    f"{', '.join(missing)}. Expected the '{directory}' directory "
                    f"(holding {', '.join(names)}), its parent, or the '{archive}' "
                    "archive."
                )
        self._read_archive(path, directory, archive, names)

    def _read_archive(self, path, directory, archive, names):
        try:
            tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError) as exc:
            raise ValueError(
                f"'{path}' is neither a directory nor a readable tar archive "
                f"such as '{archive}': {exc}"
            ) from exc
        wanted = set(names)
        self.raw, self.where = {}, {}
        with tar:
            # One pass over the members, reading the wanted ones as they come:
            # a gzip stream cannot seek back cheaply.
            try:
                for member in tar:
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in wanted and name not in self.raw:
                        self.raw[name] = tar.extractfile(member).read()
                        self.where[name] = f"'{member.name}' in '{path}'"
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"The archive '{path}' is corrupt or truncated: {exc}") from exc
        missing = [name for name in names if name not in self.raw]
        if missing:
            raise FileNotFoundError(
                f"The archive '{path}' lacks the member(s) {', '.join(missing)}; a "
                f"CIFAR python archive holds '{directory}/' with {', '.join(names)}."
            )

    def load(self, name):
        return _unpickle(self.raw.pop(name), self.where[name])


def _decode_names(names, where):
    try:
        return np.array(
            [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        )
    except (TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where} holds malformed class names: {exc}") from exc


def _cifar_part(files, names, label_key, n_classes):
    """Images and labels of the batches ``names``, concatenated."""
    images, labels = [], []
    for name in names:
        where = files.where[name]
        batch = files.load(name)
        _require_keys(batch, [b"data", label_key], where)
        data = np.asarray(batch[b"data"])
        y = np.asarray(batch[label_key])
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(
                f"{where}: b'data' must have shape (n_images, 3072) (3 channels of "
                f"32x32 pixels, row-major), got {data.shape}."
            )
        if data.dtype != np.uint8:
            if not np.issubdtype(data.dtype, np.integer) or (
                data.size and (data.min() < 0 or data.max() > 255)
            ):
                raise ValueError(f"{where}: b'data' must hold pixel values 0..255.")
            data = data.astype(np.uint8)
        if y.shape != (len(data),) or (y.size and not np.issubdtype(y.dtype, np.integer)):
            raise ValueError(
                f"{where}: {label_key!r} must hold one integer label per image "
                f"({len(data)}), got an array of shape {y.shape} and dtype {y.dtype}."
            )
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"{where}: labels must lie in 0..{n_classes - 1} (one per class name "
                f"of the meta file), got {y.min()}..{y.max()}."
            )
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(y.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(path):
    """Load CIFAR-10 from the files of its python version.

    Parameters
    ----------
    path : str or path-like
        The ``cifar-10-batches-py`` directory (holding ``data_batch_1`` ..
        ``data_batch_5``, ``test_batch`` and ``batches.meta``), a directory
        that contains it, or the ``cifar-10-python.tar.gz`` archive itself
        (read in memory, not extracted). A directory holding only the archive
        works too.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the keys

        - ``X_train`` : uint8 ndarray of shape (50000, 3, 32, 32), pixel values
          0..255 in channel (RGB), row, column order;
        - ``y_train`` : int64 ndarray of shape (50000,), class ids 0..9;
        - ``X_test``, ``y_test`` : the 10000 test images and labels, likewise;
        - ``classes`` : ndarray of str of shape (10,), the class names of
          ``batches.meta`` (``'airplane'``, ``'automobile'``, ...).

    Raises
    ------
    FileNotFoundError
        When ``path`` or one of the expected files is missing.
    ValueError
        When a file is not in the CIFAR python format (not a pickled dict,
        missing keys, wrong shapes, labels out of range).

    See Also
    --------
    load_cifar100 : The 100-class data set.
    sklearn_gce.LabelNoiseInjector : ``mapping='cifar10'`` applies the paper's
        class-dependent noise to these class ids.

    Examples
    --------
    With the real data set, downloaded beforehand:

    >>> data = load_cifar10("~/data/cifar-10-python.tar.gz")  # doctest: +SKIP
    >>> data.X_train.shape, data.X_test.shape  # doctest: +SKIP
    ((50000, 3, 32, 32), (10000, 3, 32, 32))

    A tiny stand-in written in the same format, four images per batch:

    >>> import pickle, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn_gce.datasets import load_cifar10
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name) / "cifar-10-batches-py"
    >>> root.mkdir()
    >>> rng = np.random.default_rng(0)
    >>> names = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
    ...          b"dog", b"frog", b"horse", b"ship", b"truck"]
    >>> files = {"batches.meta": {b"label_names": names}}
    >>> for name in ["data_batch_1", "data_batch_2", "data_batch_3",
    ...              "data_batch_4", "data_batch_5", "test_batch"]:
    ...     files[name] = {
    ...         b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
    ...         b"labels": [0, 3, 5, 9],
    ...     }
    >>> for name, content in files.items():
    ...     _ = (root / name).write_bytes(pickle.dumps(content, protocol=2))
    >>> data = load_cifar10(tmp.name)
    >>> data.X_train.shape, data.X_train.dtype
    ((20, 3, 32, 32), dtype('uint8'))
    >>> data.y_test
    array([0, 3, 5, 9])
    >>> data.classes[data.y_test].tolist()
    ['airplane', 'cat', 'dog', 'truck']
    >>> tmp.cleanup()
    """
    names = _CIFAR10_TRAIN + _CIFAR10_TEST + (_CIFAR10_META,)
    files = _Files(path, _CIFAR10_DIR, _CIFAR10_ARCHIVE, names)
    meta = files.load(_CIFAR10_META)
    _require_keys(meta, [b"label_names"], files.where[_CIFAR10_META])
    classes = _decode_names(meta[b"label_names"], files.where[_CIFAR10_META])
    X_train, y_train = _cifar_part(files, _CIFAR10_TRAIN, b"labels", len(classes))
    X_test, y_test = _cifar_part(files, _CIFAR10_TEST, b"labels", len(classes))
    return Bunch(
        X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, classes=classes
    )


def load_cifar100(path, label="fine"):
    """Load CIFAR-100 from the files of its python version.

    Parameters
    ----------
    path : str or path-like
        The ``cifar-100-python`` directory (holding ``train``, ``test`` and
        ``meta``), a directory that contains it, or the
        ``cifar-100-python.tar.gz`` archive itself (read in memory, not
        extracted). A directory holding only the archive works too.
    label : {'fine', 'coarse'}, default='fine'
        Which labels to return: the 100 classes (``b'fine_labels'``) or the 20
        super-classes (``b'coarse_labels'``).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the keys

        - ``X_train`` : uint8 ndarray of shape (50000, 3, 32, 32), pixel values
          0..255 in channel (RGB), row, column order;
        - ``y_train`` : int64 ndarray of shape (50000,), class ids;
        - ``X_test``, ``y_test`` : the 10000 test images and labels, likewise;
        - ``classes`` : ndarray of str, the names of the chosen labels from
          ``meta`` (``fine_label_names`` or ``coarse_label_names``).

    Raises
    ------
    FileNotFoundError
        When ``path`` or one of the expected files is missing.
    ValueError
        When ``label`` is not ``'fine'`` or ``'coarse'``, or a file is not in
        the CIFAR python format.

    See Also
    --------
    load_cifar10 : The 10-class data set.
    sklearn_gce.LabelNoiseInjector : ``mapping='cifar100'`` applies the paper's
        class-dependent noise to the fine class ids.

    Examples
    --------
    With the real data set, downloaded beforehand:

    >>> data = load_cifar100("~/data/cifar-100-python")  # doctest: +SKIP
    >>> len(data.classes), data.X_train.shape  # doctest: +SKIP
    (100, (50000, 3, 32, 32))

    A tiny stand-in in the same format, read straight from a ``.tar.gz``:

    >>> import io, pickle, tarfile, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn_gce.datasets import load_cifar100
    >>> tmp = tempfile.TemporaryDirectory()
    >>> archive = Path(tmp.name) / "cifar-100-python.tar.gz"
    >>> files = {
    ...     "meta": {b"fine_label_names": [b"apple", b"aquarium_fish", b"baby"],
    ...              b"coarse_label_names": [b"fish", b"fruit_and_vegetables",
    ...                                      b"people"]},
    ...     "train": {b"data": np.zeros((3, 3072), dtype=np.uint8),
    ...               b"fine_labels": [0, 1, 2], b"coarse_labels": [1, 0, 2]},
    ...     "test": {b"data": np.full((2, 3072), 255, dtype=np.uint8),
    ...              b"fine_labels": [2, 0], b"coarse_labels": [2, 1]},
    ... }
    >>> with tarfile.open(archive, "w:gz") as tar:
    ...     for name, content in files.items():
    ...         raw = pickle.dumps(content, protocol=2)
    ...         member = tarfile.TarInfo(f"cifar-100-python/{name}")
    ...         member.size = len(raw)
    ...         tar.addfile(member, io.BytesIO(raw))
    >>> data = load_cifar100(archive)
    >>> data.X_test.shape, data.y_train
    ((2, 3, 32, 32), array([0, 1, 2]))
    >>> load_cifar100(archive, label="coarse").classes[[1, 0, 2]].tolist()
    ['fruit_and_vegetables', 'fish', 'people']
    >>> tmp.cleanup()
    """
    keys = {"fine": b"fine_labels", "coarse": b"coarse_labels"}
    if not isinstance(label, str) or label not in keys:
        raise ValueError(f"label must be 'fine' or 'coarse', got {label!r}.")
    files = _Files(path, _CIFAR100_DIR, _CIFAR100_ARCHIVE, ("train", "test", "meta"))
    meta = files.load("meta")
    names_key = f"{label}_label_names".encode()
    _require_keys(meta, [names_key], files.where["meta"])
    classes = _decode_names(meta[names_key], files.where["meta"])
    X_train, y_train = _cifar_part(files, ["train"], keys[label], len(classes))
    X_test, y_test = _cifar_part(files, ["test"], keys[label], len(classes))
    return Bunch(
        X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, classes=classes
    )


# -------------------------------------------------------------- idx (MNIST)
def _find_idx(directories, stem):
    """The path of ``stem`` or ``stem.gz`` in the first directory that has one."""
    for directory in directories:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def _read_idx(file, magic, ndim):
    """The uint8 array stored in an idx file (gzip-compressed or not)."""
    raw = file.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file name says
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"'{file}' is a corrupt gzip file: {exc}") from exc
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise ValueError(
            f"'{file}' has the magic number {found}, not {magic} (an idx file of "
            f"unsigned bytes with {ndim} dimension(s)): it is not the expected "
            "FASHION-MNIST file."
        )
    if len(raw) < header:
        raise ValueError(
            f"'{file}' is too short ({len(raw)} bytes) for an idx file with "
            f"{ndim} dimension(s)."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(
            f"'{file}': its header announces shape {shape} ({size} bytes of data) "
            f"but the file holds {len(raw) - header} bytes after the header."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(path):
    """Load FASHION-MNIST from its idx files.

    Parameters
    ----------
    path : str or path-like
        A directory holding ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each either as is or gzip-compressed with
        the suffix ``.gz`` (as distributed). torchvision's layout, with the
        files in ``FashionMNIST/raw`` under ``path``, works too. Plain MNIST
        files are read the same way; only ``classes`` would be wrong.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the keys

        - ``X_train`` : uint8 ndarray of shape (60000, 1, 28, 28), pixel values
          0..255 (0 is the background);
        - ``y_train`` : int64 ndarray of shape (60000,), class ids 0..9;
        - ``X_test``, ``y_test`` : the 10000 test images and labels, likewise;
        - ``classes`` : ndarray of str of shape (10,): ``'T-shirt/top'``,
          ``'Trouser'``, ``'Pullover'``, ``'Dress'``, ``'Coat'``,
          ``'Sandal'``, ``'Shirt'``, ``'Sneaker'``, ``'Bag'``,
          ``'Ankle boot'`` (the idx files carry no names).

    Raises
    ------
    FileNotFoundError
        When ``path`` or one of the four files is missing.
    ValueError
        When a file is not an idx file of the expected kind (wrong magic
        number: 2051 for images, 2049 for labels), is truncated, or the
        images and labels disagree.

    See Also
    --------
    sklearn_gce.LabelNoiseInjector : ``mapping='fashion_mnist'`` applies the
        paper's class-dependent noise to these class ids.

    Examples
    --------
    With the real data set, downloaded beforehand:

    >>> data = load_fashion_mnist("~/data/fashion-mnist")  # doctest: +SKIP
    >>> data.X_train.shape  # doctest: +SKIP
    (60000, 1, 28, 28)

    A tiny stand-in in the same format (big-endian idx headers):

    >>> import gzip, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn_gce.datasets import load_fashion_mnist
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)
    >>> def idx(array, magic):
    ...     header = magic.to_bytes(4, "big") + b"".join(
    ...         n.to_bytes(4, "big") for n in array.shape)
    ...     return gzip.compress(header + array.astype(np.uint8).tobytes())
    >>> images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    >>> for part in ["train", "t10k"]:
    ...     _ = (root / f"{part}-images-idx3-ubyte.gz").write_bytes(idx(images, 2051))
    ...     _ = (root / f"{part}-labels-idx1-ubyte.gz").write_bytes(
    ...         idx(np.array([9, 0, 7]), 2049))
    >>> data = load_fashion_mnist(root)
    >>> data.X_train.shape, data.X_train.dtype
    ((3, 1, 28, 28), dtype('uint8'))
    >>> data.classes[data.y_train].tolist()
    ['Ankle boot', 'T-shirt/top', 'Sneaker']
    >>> tmp.cleanup()
    """
    root = Path(os.path.expanduser(os.fspath(path)))
    expected = ", ".join(f"{stem}[.gz]" for stem in _FASHION_MNIST_FILES.values())
    if not root.is_dir():
        raise FileNotFoundError(
            f"'{root}' is not a directory; give the directory holding {expected}."
        )
    directories = [root, root / "FashionMNIST" / "raw"]
    files = {key: _find_idx(directories, stem) for key, stem in _FASHION_MNIST_FILES.items()}
    missing = [
        f"{_FASHION_MNIST_FILES[key]}[.gz]" for key, file in files.items() if file is None
    ]
    if missing:
        raise FileNotFoundError(
            f"'{root}' lacks the FASHION-MNIST file(s) {', '.join(missing)}; "
            f"expected {expected}."
        )
    data = {}
    for part in ("train", "test"):
        images = _read_idx(files[f"X_{part}"], _IDX_IMAGES_MAGIC, 3)
        labels = _read_idx(files[f"y_{part}"], _IDX_LABELS_MAGIC, 1)
        if len(images) != len(labels):
            raise ValueError(
                f"'{files[f'X_{part}']}' holds {len(images)} images but "
                f"'{files[f'y_{part}']}' holds {len(labels)} labels."
            )
        if labels.size and labels.max() >= len(_FASHION_MNIST_CLASSES):
            raise ValueError(
                f"'{files[f'y_{part}']}' holds the label {labels.max()}; "
                f"FASHION-MNIST labels are 0..{len(_FASHION_MNIST_CLASSES) - 1}."
            )
        # frombuffer arrays are read-only views of the file's bytes: copy.
        data[f"X_{part}"] = images[:, None, :, :].copy()
        data[f"y_{part}"] = labels.astype(np.int64)
    return Bunch(**data, classes=np.array(_FASHION_MNIST_CLASSES))
