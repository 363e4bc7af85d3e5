"""Sparse input (TF-IDF text, one-hot codes): kept sparse, made dense a batch at a time."""

import numpy as np
import torch
from imblearn.pipeline import make_pipeline as make_imblearn_pipeline
from scipy import sparse
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from torch import nn

from sklearn_gce import GCEClassifier, GCEClassifierCV, LabelNoiseInjector, NoisyLabelClassifier
from sklearn_gce import networks
from sklearn_gce._rows import SparseRows
from sklearn_gce.networks import MLP

FAST = {"max_epochs": 3, "batch_size": 64, "random_state": 0}


def _sparse_data(n_samples=400, n_features=600, density=0.02, n_classes=3, seed=0):
    """A CSR matrix (float64, as scipy makes it) and labels that a linear rule of it sets."""
    X = sparse.random(n_samples, n_features, density=density, format="csr", random_state=seed)
    w = np.random.default_rng(seed).normal(size=(n_features, n_classes))
    return X, np.asarray(X @ w).argmax(1)


class Linear(nn.Module):
    """A network without input scaling: sparse and dense fits see the same numbers."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.layer = nn.Linear(n_features, n_classes)

    def forward(self, X):
        return self.layer(X)


def test_fit_predict_on_sparse_equals_the_same_rows_dense():
    X, y = _sparse_data()
    clf = GCEClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba, clf.predict_proba(X.toarray()), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.predict(X.toarray()))
    assert clf.n_features_in_ == X.shape[1]
    # A model fitted on dense rows predicts sparse ones as the same rows dense.
    dense_fit = GCEClassifier(**FAST).fit(X.toarray(), y)
    np.testing.assert_allclose(dense_fit.predict_proba(X), dense_fit.predict_proba(X.toarray()),
                               rtol=1e-5, atol=1e-6)


def test_sparse_and_dense_fits_of_a_network_without_scaling_match():
    # Same seed, same batches, the same numbers in each batch: the same model
    # (the default network scales sparse and dense inputs differently).
    X, y = _sparse_data()
    params = {**FAST, "module": Linear, "early_stopping": False, "noise_correction": None}
    on_sparse = GCEClassifier(**params).fit(X, y)
    on_dense = GCEClassifier(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(on_sparse.predict_proba(X), on_dense.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_the_whole_matrix_is_never_dense(monkeypatch):
    X, y = _sparse_data(n_samples=500)
    X = X.astype(np.float32)
    shapes = []
    gather = SparseRows.__getitem__

    def recorded(self, rows):
        batch = gather(self, rows)
        shapes.append(tuple(batch.shape))
        return batch

    def refused(self, *args, **kwargs):
        if self.shape[0] > 128:
            raise AssertionError(f"densified {self.shape[0]} rows at once")
        return dense_rows(self, *args, **kwargs)

    dense_rows = type(X).toarray
    monkeypatch.setattr(SparseRows, "__getitem__", recorded)
    monkeypatch.setattr(type(X), "toarray", refused)
    clf = GCEClassifier(**{**FAST, "loss": "truncated", "k": 0.2, "prune_start": 1, "prune_every": 1})
    clf.fit(X, y)
    clf.predict_proba(X)
    assert shapes and max(rows for rows, _ in shapes) <= 128
    assert {columns for _, columns in shapes} == {X.shape[1]}
    # The user's embedding densifies a bounded sample for its bins (at most
    # 2**24 numbers; here 100 rows of 50 columns), not the matrix.
    monkeypatch.setattr(networks, "_QUANTILE_MAX_ELEMENTS", 100 * 50)
    GCEClassifier(**FAST, module__numeric_embedding="piecewise_linear").fit(X[:, :50], y)


def test_sparse_formats_and_dtypes_are_accepted_and_the_input_left_as_it_is():
    X, y = _sparse_data()
    reference = GCEClassifier(**FAST).fit(X, y).predict_proba(X)
    for other in (X.tocsc(), X.tocoo(), X.astype(np.float32), X.astype(np.int64) * 0 + X.astype(bool)):
        assert GCEClassifier(**FAST).fit(other, y).predict_proba(X).shape == reference.shape
    np.testing.assert_allclose(GCEClassifier(**FAST).fit(X.tocsc(), y).predict_proba(X), reference, atol=1e-6)
    # Duplicate entries are summed into a copy; the caller's matrix keeps them.
    coo = X.tocoo()
    doubled = sparse.csr_matrix((np.r_[coo.data, coo.data] / 2, (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])),
                                shape=X.shape)
    doubled.has_canonical_format = False
    nnz = doubled.nnz
    dup_fit = GCEClassifier(**FAST).fit(doubled, y)
    assert doubled.nnz == nnz
    np.testing.assert_allclose(dup_fit.predict_proba(doubled), dup_fit.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_default_network_on_sparse_input_has_no_embedding_and_no_additive_model():
    X, y = _sparse_data()
    clf = GCEClassifier(**FAST).fit(X, y)
    net = clf.module_
    assert net.embedding is None and net.additive is None
    assert not hasattr(clf, "network_choice_")
    # Not centred; each column over its standard deviation (StandardScaler(with_mean=False)).
    assert not net.input_mean.any()
    std = X.toarray().std(0)
    np.testing.assert_allclose(net.input_scale.numpy(), np.where(std > 0, std, 1), rtol=1e-5)
    # The user's options win.
    clf = GCEClassifier(**FAST, module__numeric_embedding="piecewise_linear", module__additive_member=True)
    net = clf.fit(X, y).module_
    assert net.embedding is not None and net.additive is not None
    assert clf.network_choice_ in ("mean", "mlp", "additive")
    # Dense X of ordinary width keeps the dense default.
    net = GCEClassifier(**FAST).fit(X.toarray(), y).module_
    assert net.embedding is not None and net.additive is not None


def test_very_wide_dense_input_gets_the_wide_default_network():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 10_001)).astype(np.float32)
    y = np.arange(60) % 2
    net = GCEClassifier(max_epochs=1, random_state=0, noise_correction=None).fit(X, y).module_
    assert net.embedding is None and net.additive is None
    assert net.input_mean.any()  # dense input is still standardised


def test_partial_fit_on_sparse_chunks():
    X, y = _sparse_data()
    clf = GCEClassifier(**FAST, noise_correction=None)
    clf.partial_fit(X[:200], y[:200], classes=[0, 1, 2])
    clf.partial_fit(X[200:], y[200:])
    assert clf.module_.embedding is None
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(X.toarray()), rtol=1e-5, atol=1e-6)


def test_gce_classifier_cv_on_sparse_input():
    X, y = _sparse_data()
    cv = GCEClassifierCV(qs=(0.7, 1.0), losses=("gce",), **FAST, cv=None).fit(X, y)
    np.testing.assert_allclose(cv.predict_proba(X), cv.predict_proba(X.toarray()), rtol=1e-5, atol=1e-6)
    assert cv.score(X, y) > 0.4
    assert cv.module_.n_bins == 0  # no per-column embedding on sparse input
    assert not cv.module_.input_mean.any()
    embedded = GCEClassifierCV(qs=(0.7,), losses=("gce",), module__numeric_embedding="piecewise_linear", **FAST, cv=None)
    assert embedded.fit(X, y).module_.n_bins == 64  # the default bins: 600 columns are few enough


def test_pipeline_after_tfidf_with_string_labels():
    rng = np.random.default_rng(0)
    topics = {"sport": ["goal", "match", "team", "score"], "food": ["bread", "cheese", "soup", "salt"],
              "music": ["guitar", "song", "band", "drum"]}
    common = ["the", "a", "and", "of", "today", "new"]
    labels = rng.choice(list(topics), size=300)
    docs = [" ".join(rng.choice(topics[label] + common, size=12)) for label in labels]
    pipe = make_pipeline(TfidfVectorizer(), GCEClassifier(max_epochs=20, random_state=0))
    pipe.fit(docs, labels)
    assert set(pipe.classes_) == set(topics)
    assert (pipe.predict(docs) == labels).mean() > 0.9
    assert pipe.predict(["a goal and a match today"])[0] == "sport"


def test_pipeline_after_one_hot_encoder():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 30, size=(300, 4)).astype(str)
    y = (codes[:, 0].astype(int) % 3).astype(str)
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), GCEClassifier(max_epochs=30, random_state=0))
    assert sparse.issparse(pipe[0].fit_transform(codes))
    assert pipe.fit(codes, y).score(codes, y) > 0.9


def test_label_noise_on_sparse_input():
    X, y = _sparse_data()
    for noise in ("symmetric", "instance"):
        injector = LabelNoiseInjector(noise=noise, rate=0.3, random_state=0)
        X_out, y_noisy = injector.fit_resample(X, y)
        assert X_out is X and 0.15 < (y_noisy != y).mean() < 0.45
    pipe = make_imblearn_pipeline(LabelNoiseInjector(noise="instance", rate=0.3, random_state=0),
                                  GCEClassifier(**FAST))
    assert pipe.fit(X, y).predict(X).shape == y.shape
    clf = NoisyLabelClassifier(GCEClassifier(**FAST), noise=LabelNoiseInjector(rate=0.3, random_state=0))
    assert clf.fit(X, y).predict_proba(X).shape == (X.shape[0], 3)


def test_dataloader_path_and_predefined_split_on_sparse_input():
    # Options of the iterator other than batch size and shuffling go through
    # skorch's DataLoader: each row is made dense alone, then collated.
    X, y = _sparse_data()
    params = {**FAST, "module": Linear, "noise_correction": None,
              "iterator_train__drop_last": False, "iterator_valid__drop_last": False}
    on_sparse = GCEClassifier(**params).fit(X, y)
    on_dense = GCEClassifier(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(on_sparse.predict_proba(X), on_dense.predict_proba(X), rtol=1e-4, atol=1e-6)
    split = GCEClassifier(**FAST, train_split=predefined_split(Dataset(X[:50], y[:50]))).fit(X[50:], y[50:])
    assert np.isfinite(split.history[:, "valid_loss"]).all()


def test_sparse_tag():
    assert GCEClassifier().__sklearn_tags__().input_tags.sparse
    assert GCEClassifierCV().__sklearn_tags__().input_tags.sparse
    assert NoisyLabelClassifier(GCEClassifier()).__sklearn_tags__().input_tags.sparse


def test_sparse_rows_densify_a_batch_on_its_device():
    X, _ = _sparse_data(n_samples=50)
    rows = SparseRows(X.astype(np.float32), device=None)
    index = np.array([7, 3, 3, 40])
    np.testing.assert_array_equal(rows[index].numpy(), X[index].toarray().astype(np.float32))
    np.testing.assert_array_equal(rows[torch.as_tensor(index)].numpy(), rows[index].numpy())
    np.testing.assert_array_equal(rows[5:9].numpy(), X[5:9].toarray().astype(np.float32))
    assert rows[5:9].dtype == torch.float32 and len(rows) == 50


def test_mlp_scales_a_sparse_sample_without_densifying_it():
    X, _ = _sparse_data(n_samples=100)
    net = MLP(n_features=X.shape[1], n_classes=3, numeric_embedding=None)
    net.set_input_scaling(X)
    assert not net.input_mean.any()
    with_bins = MLP(n_features=X.shape[1], n_classes=3)
    with_bins.set_input_scaling(X)
    assert torch.isfinite(with_bins.embedding.edges).all()
