"""Loaders of sklearn_gce.datasets, on tiny files written in the real formats."""

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from sklearn_gce.datasets import load_cifar10, load_cifar100, load_fashion_mnist

CIFAR10_NAMES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer",
    b"dog", b"frog", b"horse", b"ship", b"truck",
]  # fmt: skip
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# ------------------------------------------------------------------ writers
def _py2_str(raw):
    """A Python 2 ``str`` opcode (SHORT_BINSTRING / BINSTRING)."""
    if len(raw) < 256:
        return b"U" + bytes([len(raw)]) + raw
    return b"T" + struct.pack("<i", len(raw)) + raw


def _py2_value(value):
    if isinstance(value, bytes):
        return _py2_str(value)
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, list):
        return b"](" + b"".join(map(_py2_value, value)) + b"e"
    assert isinstance(value, np.ndarray) and value.dtype == np.uint8
    return (  # what numpy 1.x under Python 2 wrote for a C-ordered uint8 array
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + _py2_str(b"b")
        + b"\x87R(K\x01"
        + b"(" + b"".join(b"J" + struct.pack("<i", n) for n in value.shape) + b"t"
        + b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R(K\x03"
        + _py2_str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        + _py2_str(value.tobytes())
        + b"tb"
    )


def py2_pickle(obj):
    """A dict pickled as the official CIFAR files were: protocol 2 by Python 2."""
    items = b"".join(_py2_value(k) + _py2_value(v) for k, v in obj.items())
    return b"\x80\x02}(" + items + b"u."


def cifar10_files(n_per_batch=3, seed=0):
    """{member name: dict} of a tiny CIFAR-10, with its expected arrays."""
    rng = np.random.default_rng(seed)
    files = {"batches.meta": {b"label_names": CIFAR10_NAMES, b"num_vis": 3072}}
    for name in CIFAR10_BATCHES:
        files[name] = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n_per_batch).tolist(),
            b"filenames": [b"img_%d.png" % i for i in range(n_per_batch)],
        }
    train = CIFAR10_BATCHES[:5]
    expected = {
        "X_train": np.concatenate([files[n][b"data"] for n in train]).reshape(-1, 3, 32, 32),
        "y_train": np.concatenate([files[n][b"labels"] for n in train]),
        "X_test": files["test_batch"][b"data"].reshape(-1, 3, 32, 32),
        "y_test": np.array(files["test_batch"][b"labels"]),
    }
    return files, expected


def cifar100_files(n_train=4, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    fine = [b"fine_%d" % i for i in range(100)]
    coarse = [b"coarse_%d" % i for i in range(20)]
    files = {"meta": {b"fine_label_names": fine, b"coarse_label_names": coarse}}
    for name, n in [("train", n_train), ("test", n_test)]:
        files[name] = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": rng.integers(0, 100, n).tolist(),
            b"coarse_labels": rng.integers(0, 20, n).tolist(),
        }
    return files


def write_dir(directory, files, dump=py2_pickle):
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(dump(content))
    return directory


def write_tar(archive, top, files, mode="w:gz", dump=py2_pickle):
    with tarfile.open(archive, mode) as tar:
        directory = tarfile.TarInfo(top)
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, content in files.items():
            raw = dump(content)
            member = tarfile.TarInfo(f"{top}/{name}")
            member.size = len(raw)
            tar.addfile(member, io.BytesIO(raw))
    return archive


def idx_bytes(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", n) for n in array.shape)
    return header + array.tobytes()


FMNIST_STEMS = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def fashion_arrays(n_train=5, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "X_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "X_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fashion(directory, arrays, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in FMNIST_STEMS.items():
        raw = idx_bytes(arrays[key], 2051 if key.startswith("X") else 2049)
        compress = gz if isinstance(gz, bool) else gz[key]
        name = stem + ".gz" if compress else stem
        (directory / name).write_bytes(gzip.compress(raw) if compress else raw)
    return directory


def check_cifar10(data, expected):
    assert set(data) == {"X_train", "y_train", "X_test", "y_test", "classes"}
    for key, value in expected.items():
        np.testing.assert_array_equal(data[key], value)
    assert data.X_train.dtype == np.uint8 and data.X_test.dtype == np.uint8
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    assert data.classes.tolist() == [n.decode() for n in CIFAR10_NAMES]


# ------------------------------------------------------------------ CIFAR-10
def test_py2_pickle_writer_matches_pickle():
    """The hand-written Python 2 pickles load like the real files do."""
    files, _ = cifar10_files()
    batch = files["data_batch_1"]
    loaded = pickle.loads(py2_pickle(batch), encoding="bytes")
    assert set(loaded) == set(batch)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == batch[b"labels"]


@pytest.mark.parametrize("where", ["batches_dir", "parent", "archive", "archive_dir", "tar"])
def test_cifar10_round_trip(tmp_path, where):
    files, expected = cifar10_files()
    if where in ("batches_dir", "parent"):
        write_dir(tmp_path / "cifar-10-batches-py", files)
        path = tmp_path / "cifar-10-batches-py" if where == "batches_dir" else tmp_path
    elif where == "tar":
        path = write_tar(tmp_path / "cifar.tar", "cifar-10-batches-py", files, mode="w")
    else:
        path = write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
        path = tmp_path if where == "archive_dir" else path
    data = load_cifar10(str(path) if where == "parent" else path)
    check_cifar10(data, expected)
    if where not in ("batches_dir", "parent"):  # read in memory, nothing extracted
        assert not list(tmp_path.glob("**/data_batch_1"))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_python3_pickles(tmp_path, protocol):
    files, expected = cifar10_files()
    write_dir(tmp_path, files, dump=lambda obj: pickle.dumps(obj, protocol=protocol))
    check_cifar10(load_cifar10(tmp_path), expected)


def test_cifar10_str_keys_are_accepted(tmp_path):
    """Copies re-pickled after loading with encoding='latin1' have str keys."""
    files, expected = cifar10_files()
    files = {
        name: {key.decode(): value for key, value in content.items()}
        for name, content in files.items()
    }
    files["batches.meta"]["label_names"] = [n.decode() for n in CIFAR10_NAMES]
    write_dir(tmp_path, files, dump=pickle.dumps)
    check_cifar10(load_cifar10(tmp_path), expected)


def test_cifar10_pixel_layout(tmp_path):
    """Rows of b'data' are 1024 red, then green, then blue values, row-major."""
    files, _ = cifar10_files(n_per_batch=1)
    pixels = np.arange(3072) % 256
    files["test_batch"][b"data"] = pixels[None].astype(np.uint8)
    data = load_cifar10(write_dir(tmp_path, files))
    image = data.X_test[0]
    assert image[0, 0, 1] == 1 and image[0, 1, 0] == 32  # red: row 0 col 1, row 1 col 0
    assert image[1, 0, 0] == 1024 % 256 and image[2, 31, 31] == 3071 % 256


def test_cifar10_expands_user(tmp_path, monkeypatch):
    files, expected = cifar10_files()
    write_dir(tmp_path / "cifar-10-batches-py", files)
    monkeypatch.setenv("HOME", str(tmp_path))
    check_cifar10(load_cifar10("~/cifar-10-batches-py"), expected)


def test_cifar10_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*data_batch_1"):
        load_cifar10(tmp_path / "nowhere")


def test_cifar10_missing_file_is_named(tmp_path):
    files, _ = cifar10_files()
    del files["data_batch_3"]
    write_dir(tmp_path / "cifar-10-batches-py", files)
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):
        with pytest.raises(FileNotFoundError, match="lacks data_batch_3. Expected"):
            load_cifar10(path)


def test_cifar10_archive_missing_member(tmp_path):
    files, _ = cifar10_files()
    del files["batches.meta"]
    archive = write_tar(tmp_path / "c.tar.gz", "cifar-10-batches-py", files)
    with pytest.raises(FileNotFoundError, match="lacks the member.*batches.meta"):
        load_cifar10(archive)


def test_cifar10_not_an_archive(tmp_path):
    (tmp_path / "c.tar.gz").write_bytes(b"not an archive at all")
    with pytest.raises(ValueError, match="neither a directory nor a readable tar"):
        load_cifar10(tmp_path / "c.tar.gz")


def test_cifar10_truncated_archive(tmp_path):
    files, _ = cifar10_files()
    archive = write_tar(tmp_path / "c.tar.gz", "cifar-10-batches-py", files)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_cifar10(archive)


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"garbage, not a pickle", "not a file of the CIFAR python version"),
        (pickle.dumps([1, 2, 3]), "holds a list, not a dict"),
        # A pickle that would run a shell command is refused, not executed.
        (b"cos\nsystem\n(S'echo pwned'\ntR.", "refusing to load the global os.system"),
    ],
)
def test_cifar10_bad_pickles(tmp_path, raw, match):
    files, _ = cifar10_files()
    write_dir(tmp_path, files)
    (tmp_path / "data_batch_2").write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(tmp_path)
    assert "data_batch_2" in str(info.value)


def test_cifar10_wrong_keys(tmp_path):
    files, _ = cifar10_files()
    files["test_batch"][b"fine_labels"] = files["test_batch"].pop(b"labels")
    write_dir(tmp_path, files)
    with pytest.raises(ValueError, match=r"test_batch lacks the key\(s\) b'labels'"):
        load_cifar10(tmp_path)

    files, _ = cifar10_files()
    files["batches.meta"] = {b"fine_label_names": CIFAR10_NAMES}
    write_dir(tmp_path, files)
    with pytest.raises(ValueError, match="batches.meta lacks the key.*b'label_names'"):
        load_cifar10(tmp_path)


def test_cifar10_bad_contents(tmp_path):
    files, _ = cifar10_files()
    files["data_batch_1"][b"data"] = np.zeros((3, 1024), dtype=np.uint8)
    write_dir(tmp_path, files)
    with pytest.raises(ValueError, match=r"shape \(n_images, 3072\)"):
        load_cifar10(tmp_path)

    files, _ = cifar10_files()
    files["data_batch_1"][b"labels"] = [0, 1]  # 3 images
    write_dir(tmp_path, files)
    with pytest.raises(ValueError, match="one integer label per image"):
        load_cifar10(tmp_path)

    files, _ = cifar10_files()
    files["data_batch_4"][b"labels"] = [0, 10, 1]
    write_dir(tmp_path, files)
    with pytest.raises(ValueError, match=r"labels must lie in 0..9"):
        load_cifar10(tmp_path)


def test_cifar10_integer_data_is_cast(tmp_path):
    files, expected = cifar10_files()
    for name in CIFAR10_BATCHES:
        files[name][b"data"] = files[name][b"data"].astype(np.int64)
    write_dir(tmp_path, files, dump=pickle.dumps)
    check_cifar10(load_cifar10(tmp_path), expected)

    files[CIFAR10_BATCHES[0]][b"data"][0, 0] = 256
    write_dir(tmp_path, files, dump=pickle.dumps)
    with pytest.raises(ValueError, match="pixel values 0..255"):
        load_cifar10(tmp_path)


# ----------------------------------------------------------------- CIFAR-100
@pytest.mark.parametrize("label", ["fine", "coarse"])
@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar100_round_trip(tmp_path, label, as_archive):
    files = cifar100_files()
    if as_archive:
        path = write_tar(tmp_path / "cifar-100-python.tar.gz", "cifar-100-python", files)
    else:
        path = write_dir(tmp_path / "cifar-100-python", files)
    data = load_cifar100(path, label=label)
    key = f"{label}_labels".encode()
    np.testing.assert_array_equal(
        data.X_train, files["train"][b"data"].reshape(-1, 3, 32, 32)
    )
    np.testing.assert_array_equal(data.X_test, files["test"][b"data"].reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.y_train, files["train"][key])
    np.testing.assert_array_equal(data.y_test, files["test"][key])
    assert data.y_train.dtype == np.int64 and data.X_train.dtype == np.uint8
    n_classes = 100 if label == "fine" else 20
    assert data.classes.tolist() == [f"{label}_{i}" for i in range(n_classes)]


def test_cifar100_parent_dir_and_errors(tmp_path):
    files = cifar100_files()
    write_dir(tmp_path / "cifar-100-python", files)
    assert load_cifar100(tmp_path).X_train.shape == (4, 3, 32, 32)

    with pytest.raises(ValueError, match="label must be 'fine' or 'coarse'"):
        load_cifar100(tmp_path, label="super")

    (tmp_path / "cifar-100-python" / "meta").unlink()
    with pytest.raises(FileNotFoundError, match="lacks meta"):
        load_cifar100(tmp_path)

    files["meta"] = {b"fine_label_names": files["meta"][b"fine_label_names"]}
    write_dir(tmp_path / "cifar-100-python", files)
    assert len(load_cifar100(tmp_path).classes) == 100
    with pytest.raises(ValueError, match="lacks the key.*b'coarse_label_names'"):
        load_cifar100(tmp_path, label="coarse")


def test_cifar100_is_not_cifar10(tmp_path):
    write_dir(tmp_path / "cifar-100-python", cifar100_files())
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)


# ------------------------------------------------------------- FASHION-MNIST
@pytest.mark.parametrize(
    "gz",
    [True, False, {"X_train": True, "y_train": False, "X_test": False, "y_test": True}],
    ids=["gz", "raw", "mixed"],
)
def test_fashion_mnist_round_trip(tmp_path, gz):
    arrays = fashion_arrays()
    data = load_fashion_mnist(write_fashion(tmp_path, arrays, gz=gz))
    assert set(data) == {"X_train", "y_train", "X_test", "y_test", "classes"}
    assert data.X_train.shape == (5, 1, 28, 28) and data.X_test.shape == (4, 1, 28, 28)
    assert data.X_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.X_train[:, 0], arrays["X_train"])
    np.testing.assert_array_equal(data.X_test[:, 0], arrays["X_test"])
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert data.classes[[0, 9]].tolist() == ["T-shirt/top", "Ankle boot"]
    assert data.X_train.flags.writeable


def test_fashion_mnist_torchvision_layout(tmp_path):
    arrays = fashion_arrays()
    write_fashion(tmp_path / "FashionMNIST" / "raw", arrays, gz=False)
    np.testing.assert_array_equal(load_fashion_mnist(str(tmp_path)).y_test, arrays["y_test"])


def test_fashion_mnist_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory.*train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path / "nowhere")
    write_fashion(tmp_path, fashion_arrays())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks .* t10k-labels-idx1-ubyte\[.gz\];"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_wrong_magic(tmp_path):
    arrays = fashion_arrays()
    write_fashion(tmp_path, arrays, gz=False)
    # Labels where the images should be: magic 2049 instead of 2051.
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(arrays["y_train"], 2049))
    with pytest.raises(ValueError, match="magic number 2049, not 2051"):
        load_fashion_mnist(tmp_path)
    # A CIFAR file, or anything else, in place of the labels.
    write_fashion(tmp_path, arrays, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x80\x02}q\x00." + bytes(8))
    with pytest.raises(ValueError, match="not 2049"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_bad_sizes(tmp_path):
    arrays = fashion_arrays()
    write_fashion(tmp_path, arrays, gz=False)
    raw = idx_bytes(arrays["X_test"], 2051)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="announces shape"):
        load_fashion_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:6])
    with pytest.raises(ValueError, match="too short"):
        load_fashion_mnist(tmp_path)

    write_fashion(tmp_path, arrays, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["y_test"][:-1], 2049))
    with pytest.raises(ValueError, match="holds 4 images but .* holds 3 labels"):
        load_fashion_mnist(tmp_path)

    write_fashion(tmp_path, arrays, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes([0, 1, 10, 2], 2049))
    with pytest.raises(ValueError, match="label 10"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_corrupt_gzip(tmp_path):
    write_fashion(tmp_path, fashion_arrays())
    raw = (tmp_path / "train-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(raw[:-12])
    with pytest.raises(ValueError, match="corrupt gzip"):
        load_fashion_mnist(tmp_path)
