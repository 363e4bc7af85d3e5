"""Beyond one process: grid searches on Dask and Ray through joblib, Accelerate, data on disk.

Each engine is an existing one; these tests check that GCEClassifier runs on
it and gives what a plain run gives. A worker of a Dask (or Ray) cluster runs
torch on one thread, and the number of threads changes the order of
floating-point sums, so the serial reference runs on one thread too: then the
results agree exactly.
"""

import os
import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import torch
from imblearn.pipeline import make_pipeline
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklearn_gce import GCEClassifier, LabelNoiseInjector

GRID = {"gceclassifier__q": [0.5, 0.9], "gceclassifier__loss": ["gce", "truncated"]}


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:600].astype(np.float32), y[:600]


def _search():
    pipe = make_pipeline(
        LabelNoiseInjector(noise="symmetric", rate=0.3, random_state=0),
        GCEClassifier(max_epochs=4, prune_start=2, prune_every=1, random_state=0),
    )
    return GridSearchCV(pipe, GRID, cv=2, n_jobs=-1)


@pytest.fixture
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _serial_scores(X, y):
    with joblib.parallel_backend("sequential"):
        search = _search().fit(X, y)
    return search


def test_grid_search_on_a_dask_cluster_equals_a_serial_one(data, one_torch_thread):
    distributed = pytest.importorskip("distributed")
    X, y = data
    serial = _serial_scores(X, y)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            on_dask = _search().fit(X, y)
        # An estimator reaches a worker without device state; "auto" resolves there.
        device, resolved = client.submit(_device_on_worker, GCEClassifier()).result()
    assert device == "auto" and resolved == ("cuda" if torch.cuda.is_available() else "cpu")
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_array_equal(on_dask.predict_proba(X), serial.predict_proba(X))


def _device_on_worker(estimator):
    return estimator.get_params()["device"], estimator.device


def test_an_unfitted_estimator_pickles_without_tensors():
    # What joblib ships to a worker for every candidate of a search.
    payload = pickle.dumps(GCEClassifier(loss="truncated", q=0.5))
    assert b"_rebuild_tensor" not in payload
    assert pickle.loads(payload).get_params()["device"] == "auto"


def test_grid_search_on_ray_equals_a_serial_one(data, one_torch_thread):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    X, y = data
    serial = _serial_scores(X, y)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            on_ray = _search().fit(X, y)
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(
        on_ray.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert on_ray.best_params_ == serial.best_params_


def test_accelerate_on_the_cpu_trains_the_same_kind_of_model(data):
    accelerate = pytest.importorskip("accelerate")
    from sklearn_gce import AcceleratedGCEClassifier

    X, y = data
    params = dict(loss="truncated", prune_start=3, max_epochs=8, random_state=0)
    plain = GCEClassifier(**params).fit(X, y)
    accelerated = AcceleratedGCEClassifier(
        accelerator=accelerate.Accelerator(cpu=True), callbacks__print_log__sink=print, **params
    ).fit(X, y)
    assert accelerated.pruned_rows_.shape == plain.pruned_rows_.shape
    assert "n_pruned" in accelerated.history[2] and "valid_acc" in accelerated.history[-1]
    assert abs(accelerated.score(X, y) - plain.score(X, y)) < 0.05
    clone = pickle.loads(pickle.dumps(accelerated))
    np.testing.assert_array_equal(clone.predict(X), accelerated.predict(X))


_TWO_PROCESS_SCRIPT = """
import sys
import numpy as np
from accelerate import Accelerator
from sklearn.datasets import load_digits
from sklearn_gce import AcceleratedGCEClassifier

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
accelerator = Accelerator(cpu=True)
clf = AcceleratedGCEClassifier(
    accelerator=accelerator, loss="truncated", k=0.5, prune_start=3, prune_every=2,
    max_epochs=40, n_iter_no_change=2, random_state=0, callbacks__print_log__sink=print,
).fit(X, y)
np.savez(
    f"{sys.argv[1]}/rank{accelerator.process_index}.npz",
    issues=clf.pruned_rows_, proba=clf.predict_proba(X), epochs=len(clf.history),
    train_batches=clf.history[-1, "train_batch_count"],
    n_pruned=[row["n_pruned"] for row in clf.history if "n_pruned" in row],
)
"""


def test_accelerate_with_two_processes_gathers_the_per_sample_state(tmp_path):
    pytest.importorskip("accelerate")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_TWO_PROCESS_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29533", str(script), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{rank}.npz") for rank in (0, 1)]
    # Each process trains on half of the batches...
    single = int(np.ceil(540 / 128))
    assert all(r["train_batches"] == int(np.ceil(single / 2)) for r in ranks)
    # ...but validates, prunes and flags on every row: both stop at the same
    # epoch (early stopping), prune and flag the same rows.
    assert ranks[0]["epochs"] == ranks[1]["epochs"] < 40
    np.testing.assert_array_equal(ranks[0]["issues"], ranks[1]["issues"])
    np.testing.assert_array_equal(ranks[0]["n_pruned"], ranks[1]["n_pruned"])
    _, y = load_digits(return_X_y=True)
    p_label = ranks[0]["proba"][np.arange(600), y[:600]]
    issues = ranks[0]["issues"]
    assert issues.sum() > 0 and not np.any(issues & (p_label > 0.5))
    np.testing.assert_array_equal(ranks[0]["proba"], ranks[1]["proba"])


def test_fit_on_image_files_read_from_disk(data, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    X, y = data
    paths = []
    for i, image in enumerate(X[:300].reshape(-1, 8, 8)):
        path = tmp_path / f"{i}.png"
        Image.fromarray((image * 15).astype(np.uint8)).save(path)
        paths.append(path)

    class ImageFiles(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            pixels = np.asarray(Image.open(paths[i]), dtype=np.float32) / 15
            return torch.from_numpy(pixels).reshape(1, 8, 8), int(y[i])

    files = ImageFiles()
    clf = GCEClassifier(max_epochs=10, random_state=0, iterator_train__num_workers=0).fit(files)
    assert clf.score(X[:300].reshape(-1, 1, 8, 8), y[:300]) > 0.8
    np.testing.assert_array_equal(clf.predict(files), clf.predict(X[:300].reshape(-1, 1, 8, 8)))
