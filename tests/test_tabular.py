"""DataFrames as they come: TabularEncoder, and GCEClassifier and its network on encoded tables."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gce import MLP, CategoricalEmbedding, GCEClassifier, LabelNoiseInjector, TabularEncoder
from sklearn_gce._tabular import ColumnTypeError

FAST = dict(max_epochs=3, random_state=0)
COLORS = ["red", "green", "blue"]


def _frame(n=240, seed=0):
    """Every column type, with missing values in every column that can hold them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = pd.DataFrame({
        "float": y + rng.normal(0, 0.5, n),
        "int": rng.integers(0, 100, n),
        "Int64": pd.array(rng.integers(0, 5, n), dtype="Int64"),
        "bool": rng.random(n) < 0.5,
        "boolean": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "category": pd.Categorical(np.array(COLORS)[y]),
        "object": np.array(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, n)],
        "string": pd.array(np.array(["x", "y"])[rng.integers(0, 2, n)], dtype="string"),
        "many": np.array([f"level{i}" for i in range(30)], dtype=object)[(y * 10 + rng.integers(0, 10, n))],
    })
    for column, dtype_missing in [("float", np.nan), ("Int64", pd.NA), ("boolean", pd.NA),
                                  ("category", np.nan), ("object", None), ("string", pd.NA),
                                  ("many", None)]:
        X.loc[rng.random(n) < 0.1, column] = dtype_missing
    return X, np.array(["cat", "dog", "fish"])[y]


@pytest.fixture(scope="module")
def table():
    return _frame()


@pytest.fixture(scope="module")
def fitted(table):
    X, y = table
    return GCEClassifier(**FAST).fit(X, y)


# ------------------------------------------------------------------ the encoder
def test_every_dtype_goes_into_its_block(table):
    X, _ = table
    encoder = TabularEncoder().fit(X)
    assert list(encoder.numeric_features_) == ["float", "int", "Int64"]
    assert list(encoder.onehot_features_) == ["bool", "boolean", "category", "object", "string"]
    assert list(encoder.embedded_features_) == ["many"]
    assert encoder.cardinalities_ == (31,)  # 30 levels and missing
    assert encoder.n_missing_indicators_ == 2  # float and Int64 had missing values
    Xt = encoder.transform(X)
    assert Xt.dtype == np.float32 and np.isfinite(Xt).all()
    # bool 2 + boolean 3 + category 4 + object 5 + string 3 one-hot columns
    assert Xt.shape == (len(X), 3 + 2 + 17 + 1)
    # Missing numbers are filled with the training mean and flagged.
    missing = X["float"].isna().to_numpy()
    np.testing.assert_allclose(Xt[missing, 0], X["float"].mean(), rtol=1e-6)
    np.testing.assert_array_equal(Xt[:, 3], missing)
    # The embedded column holds codes, one per category, missing included.
    codes = Xt[:, -1]
    assert set(codes) == set(range(31))
    assert len(set(codes[X["many"].isna().to_numpy()])) == 1


def test_threshold_decides_between_onehot_and_embedding(table):
    X, _ = table
    all_onehot = TabularEncoder(max_onehot_categories=100).fit(X)
    assert len(all_onehot.embedded_features_) == 0 and all_onehot.cardinalities_ == ()
    all_embedded = TabularEncoder(max_onehot_categories=1).fit(X)
    assert len(all_embedded.onehot_features_) == 0
    assert all_embedded.cardinalities_ == (2, 3, 4, 5, 3, 31)
    with pytest.raises(ValueError, match="'max_onehot_categories' parameter of TabularEncoder"):
        TabularEncoder(max_onehot_categories=0).fit(X)


def test_unknown_categories_and_new_missing_values_encode_as_nothing(table):
    X, _ = table
    X = X.dropna(subset=["object", "many"])  # no missing values in these two at fit
    encoder = TabularEncoder().fit(X)
    new = X.head(2).copy()
    new["object"] = ["purple", None]  # unseen, and missing where fit saw none
    new["many"] = ["level99", None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Xt = encoder.transform(new)
    names = encoder.get_feature_names_out()
    onehot = [i for i, name in enumerate(names) if name.startswith("onehot__object_")]
    assert not Xt[:, onehot].any()
    np.testing.assert_array_equal(Xt[:, -1], [-1, -1])


def test_columns_entirely_missing_at_predict(fitted, table):
    X, _ = table
    new = X.head(20).copy()
    new["float"] = np.nan
    new["Int64"] = pd.array([pd.NA] * 20, dtype="Int64")
    new["category"] = np.nan  # a float column now, as pandas types an empty column
    new["object"] = None
    new["many"] = np.nan
    proba = fitted.predict_proba(new)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)


def test_a_column_entirely_missing_at_fit(table):
    X, y = table
    X = X.assign(empty=np.nan, empty_text=None)
    clf = GCEClassifier(**FAST).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_columns_must_come_as_at_fit(fitted, table):
    X, _ = table
    with pytest.raises(ValueError, match=r"same order(.|\n)*X\[clf.feature_names_in_\]"):
        fitted.predict(X[X.columns[::-1]])
    with pytest.raises(ValueError, match="yet now missing:\n- many"):
        fitted.predict(X.drop(columns="many"))
    with pytest.raises(ValueError, match="unseen at fit time:\n- extra"):
        fitted.predict(X.assign(extra=1))
    np.testing.assert_array_equal(
        fitted.predict(X[X.columns[::-1]][fitted.feature_names_in_]), fitted.predict(X)
    )


def test_a_column_that_changed_type_is_named(fitted, table):
    X, _ = table
    bad = X.head(5).assign(float=["1.5", "oops", None, "2", "3"])
    with pytest.raises(ColumnTypeError, match=r"The column 'float' was numeric at fit \(float64\).*'oops'"):
        fitted.predict(bad)
    with pytest.raises(ValueError, match=r"The column 'object' was categorical at fit.*astype\('category'\)"):
        fitted.predict(X.head(5).assign(object=np.arange(5.0)))
    # Numbers as category labels are read as their text, as at fit.
    codes = pd.DataFrame({"level": pd.Categorical([1, 2, 3] * 20), "x": np.arange(60.0)})
    encoder = TabularEncoder().fit(codes)
    np.testing.assert_array_equal(
        encoder.transform(codes.assign(level=codes["level"].astype(int).astype("category"))),
        encoder.transform(codes),
    )


def test_unsupported_dtypes_are_refused_at_fit():
    X = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=10), "x": np.arange(10.0)})
    with pytest.raises(ValueError, match=r"'when' has dtype datetime64.*\.dt\.year"):
        TabularEncoder().fit(X)


@parametrize_with_checks([TabularEncoder()])
def test_sklearn_compatible_encoder(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ the network
def test_default_network_embeds_numbers_and_categories_apart(fitted):
    encoder = fitted.encoder_
    net = fitted.module_
    # The piecewise-linear embedding is on the 3 numeric columns only.
    assert net.embedding.edges.shape[0] == 3
    assert net.categorical.cardinalities.tolist() == list(encoder.cardinalities_)
    n_dense = len(encoder.get_feature_names_out()) - len(encoder.cardinalities_)
    assert net.input_mean.shape == (n_dense,)
    assert net.layers[0].in_features == n_dense + 3 * 8 + 1 * 8


def test_the_network_learns_from_categories_and_missingness():
    rng = np.random.default_rng(1)
    n = 900
    level = rng.integers(0, 40, n)
    X = pd.DataFrame({
        "many": np.array([f"c{i}" for i in range(40)])[level],  # embedded
        "few": np.array(["u", "v", "w"])[rng.integers(0, 3, n)],  # one-hot
        "x": rng.normal(size=n),
    })
    X.loc[rng.random(n) < 0.5, "x"] = np.nan
    y = (level % 2) * 2 + X["x"].isna().to_numpy()  # the category's parity and whether x is missing
    train, test = slice(0, 600), slice(600, None)
    clf = GCEClassifier(max_epochs=40, early_stopping=False, random_state=0).fit(X[train], y[train])
    assert clf.score(X[test], y[test]) > 0.9


def test_categorical_embedding_keeps_columns_apart_and_unknowns_at_zero():
    emb = CategoricalEmbedding([2, 3], d_embedding=4)
    out = emb(torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 3.0]]))
    assert not torch.equal(out[0, :4], out[0, 4:])  # code 0 of each column: its own vector
    assert torch.all(out[2] == 0)  # -1 and a code past the last category: unknown
    out.sum().backward()
    assert torch.all(emb.table.weight.grad[0] == 0)  # the unknown vector is never trained
    with pytest.raises(ValueError, match="cardinalities"):
        CategoricalEmbedding([])


def test_mlp_standardises_numbers_but_not_codes():
    net = MLP(n_features=4, n_classes=2, n_numeric=1, categorical_cardinalities=[5])
    X = torch.tensor([[0.0, 1.0, 0.0, 4.0], [10.0, 0.0, 1.0, 0.0]] * 10)
    net.set_input_scaling(X)
    torch.testing.assert_close(net.input_mean, torch.tensor([5.0, 0.5, 0.5]))
    assert net.embedding.edges.shape[0] == 1
    assert net.eval()(X).shape == (20, 2)
    with pytest.raises(ValueError, match="n_numeric"):
        MLP(n_features=4, n_classes=2, n_numeric=4, categorical_cardinalities=[5])


def test_a_user_module_gets_the_encoded_float32_matrix(table):
    X, y = table
    seen = {}

    class Recorder(torch.nn.Module):
        def __init__(self, n_features, n_classes, categorical_cardinalities=()):
            super().__init__()
            seen["cardinalities"] = tuple(categorical_cardinalities)
            self.linear = torch.nn.Linear(n_features, n_classes)

        def forward(self, X):
            seen["dtype"], seen["width"] = X.dtype, X.shape[1]
            return self.linear(X)

    clf = GCEClassifier(Recorder, **FAST).fit(X, y)
    assert seen["dtype"] == torch.float32
    assert seen["width"] == len(clf.encoder_.get_feature_names_out())
    assert seen["cardinalities"] == clf.encoder_.cardinalities_


# ------------------------------------------------------------------ the estimator
def test_pickle_round_trip_keeps_the_encoder_and_predictions(fitted, table):
    X, _ = table
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(clone.encoder_.get_feature_names_out(),
                                  fitted.encoder_.get_feature_names_out())


def test_grid_search_and_cross_validate_over_a_dataframe(table):
    X, y = table
    search = GridSearchCV(
        GCEClassifier(**FAST), {"encoder__max_onehot_categories": [1, 16]}, cv=2
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.encoder_.max_onehot_categories in (1, 16)
    pipe = make_pipeline(LabelNoiseInjector(rate=0.2, random_state=0), GCEClassifier(**FAST))
    scores = cross_validate(pipe, X, y, cv=2, error_score="raise")
    assert np.isfinite(scores["test_score"]).all()


def test_encoder_parameters_set_after_fit_apply_at_the_next_fit(table):
    X, y = table
    clf = GCEClassifier(**FAST).fit(X, y)
    clf.set_params(encoder__max_onehot_categories=1)
    assert clf.get_params()["encoder__max_onehot_categories"] == 1
    assert len(clf.fit(X, y).encoder_.onehot_features_) == 0


def test_partial_fit_keeps_the_first_encoder(table):
    X, y = table
    clf = GCEClassifier(max_epochs=1, random_state=0)
    clf.partial_fit(X[:120], y[:120], classes=["cat", "dog", "fish"])
    encoder = clf.encoder_
    later = X[120:].assign(object="zzz")  # a category the encoder never saw
    clf.partial_fit(later, y[120:])
    assert clf.encoder_ is encoder


def test_arrays_behave_as_before(digits):
    X, y = digits
    X, y = X[:200], y[:200]
    clf = GCEClassifier(**FAST).fit(X, y)
    assert clf.encoder_ is None and clf.module_.categorical is None
    assert clf.module_.embedding.edges.shape[0] == 64
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GCEClassifier(**FAST).fit(bad, y)
    # A numeric DataFrame without missing values encodes to the same float32 matrix.
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    np.testing.assert_array_equal(TabularEncoder().fit_transform(frame), X.astype(np.float32))
    np.testing.assert_array_equal(GCEClassifier(**FAST).fit(frame, y).predict_proba(frame),
                                  clf.predict_proba(X))


def test_an_array_after_a_dataframe_fit_is_read_in_the_fit_order(fitted, table):
    X, _ = table
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        proba = fitted.predict_proba(X.to_numpy(dtype=object))
    np.testing.assert_allclose(proba, fitted.predict_proba(X), rtol=1e-6)
