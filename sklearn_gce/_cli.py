"""Command-line interface: ``sklearn-gce demo | fit | predict | issues``.

``demo`` shows the point of the package on scikit-learn's digits (bundled, no
download): the same network trained with cross entropy, GCE and truncated GCE on
labels of which a fraction was corrupted, scored on clean test labels. ``fit``
and ``predict`` train and apply a tabular model on a CSV file; ``issues`` writes
the report of :func:`~sklearn_gce.find_label_issues` for a CSV file.

Problems with the user's input raise :class:`CLIError`, which :func:`main` prints
as one line ``sklearn-gce: error: ...`` and turns into exit code 2, as argparse
does for bad arguments; anything else is a bug and keeps its traceback.
"""

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import torch
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.utils.multiclass import type_of_target
from skorch.callbacks import Callback
from tqdm import tqdm

from . import __version__
from ._classifier import GCEClassifier
from ._classifier_cv import GCEClassifierCV
from ._find_label_issues import FILTER_BY, PRESETS, find_label_issues
from ._injector import LabelNoiseInjector
from ._tabular import ColumnTypeError, TabularEncoder
from .losses import LOSSES, Q_LOSSES, loss_grid

__all__ = ["main"]

PROG = "sklearn-gce"
MODEL_FORMAT = "sklearn-gce model"  # marker of the files that `fit` writes
MODEL_FORMAT_VERSION = 2  # 2: the estimator encodes the table itself
DEMO_EPOCHS = 50
INPUT_ERROR = 2  # the exit code of unusable input, as of invalid arguments
# every noise model of LabelNoiseInjector (a test checks that none is missing)
NOISE_MODELS = ("symmetric", "pairflip", "mapping", "matrix", "instance", "open_set")
MAPPING_PRESETS = ("cifar10", "fashion_mnist", "cifar100")
DEMO_OUTSIDE_CLASSES = (5, 6, 7, 8, 9)  # --noise open_set: the demo's task is the other digits; enough rows for any rate


class CLIError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


# ----------------------------------------------------------------- arguments
def _in_range(kind, low, high, low_open=False, high_open=False):
    """An argparse ``type`` that parses ``kind`` and checks ``low <= x <= high``."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            high_text = "inf" if high is None else high
            raise argparse.ArgumentTypeError(f"{text} is not in {left}{low}, {high_text}{right}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _add_noise_options(parser, what, outside_file):
    """``--noise`` (every model of LabelNoiseInjector) and the options that some models need."""
    parser.add_argument("--noise", choices=NOISE_MODELS, default="symmetric",
                        help=f"noise model of {what} (default: %(default)s; see LabelNoiseInjector)")
    parser.add_argument("--mapping", nargs="+", metavar="FROM:TO",
                        help="for --noise mapping: the label pairs that flip, e.g. cat:dog dog:cat, "
                        f"or one preset for class ids 0..K-1 ({', '.join(MAPPING_PRESETS)})")
    parser.add_argument("--transition-matrix", type=Path, metavar="MATRIX.csv",
                        help="for --noise matrix: K rows of K probabilities, comma-separated, "
                        "without header, the classes in sorted order")
    if outside_file:
        parser.add_argument("--outside", type=Path, metavar="OUTSIDE.csv",
                            help="for --noise open_set: rows from outside the task, with the "
                            "feature columns of DATA.csv, that replace a fraction --rate of its rows")
    parser.add_argument("--outside-label", choices=["kept", "uniform", "nearest"], default="kept",
                        help="for --noise open_set: the label each outside row gets (default: "
                        "%(default)s, the label of the row it replaces)")


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Neural networks for noisy labels with the Generalized Cross Entropy loss.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of errors"
    )
    parser.add_argument(
        "--threads", type=_in_range(int, 1, None), default=1,
        help="CPU threads for torch (default: %(default)s; the small default network "
        "gains little from more, and slows down badly when the cores are busy)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="compare CE, GCE and truncated GCE on digits with noisy labels",
        description="Train the same network with cross entropy, GCE and truncated GCE on "
        "scikit-learn's digits, after corrupting a fraction of the training labels; "
        "print the clean-test accuracy and write a plot of it per epoch. With --noise "
        "open_set the task is the digits 0-4, and images of 5-9 replace training rows.",
    )
    _add_noise_options(demo, "the training labels", outside_file=False)
    demo.add_argument("--rate", type=_in_range(float, 0, 1, high_open=True), default=0.4,
                      help="fraction of training labels to corrupt (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--epochs", type=_in_range(int, 1, None), default=DEMO_EPOCHS,
                      help="training epochs per method (default: %(default)s)")
    demo.add_argument("--out", type=Path, default=Path("."),
                      help="folder for demo.png (default: the current folder)")

    fit = sub.add_parser(
        "fit",
        help="train a model on a CSV file",
        description="Train GCEClassifierCV on a CSV file, whose columns it encodes itself "
        "(missing values included; see TabularEncoder): each q of --q is cross-fitted on "
        "--cv folds in one pass, the q whose members predict the given labels best out of "
        "fold is kept, gradient-boosted trees are cross-fitted beside its members and weighted "
        "out of fold, and the model is saved. With --grid: "
        "GCEClassifier, q (and the loss, when several are given) chosen by scikit-learn's "
        "GridSearchCV, the best setting refitted on all rows.",
    )
    fit.add_argument("data", type=Path, metavar="DATA.csv", help="training data")
    fit.add_argument("--target", required=True, metavar="COLUMN", help="the label column")
    fit.add_argument("--id-column", metavar="COLUMN",
                     help="a column of row ids, left out of the features")
    fit.add_argument("--grid", action="store_true",
                     help="grid-search GCEClassifier instead (a full fit per candidate and fold)")
    fit.add_argument("--q", type=_in_range(float, 0, 1, low_open=True), nargs="+", metavar="Q",
                     help="values of q to try, in (0, 1] (default: 0.2 0.8; with --grid, "
                     "0.3 0.5 0.7 0.9)")
    fit.add_argument("--loss", choices=sorted(LOSSES), nargs="+", default=["gce"],
                     metavar="LOSS",
                     help=f"losses to try, among {', '.join(sorted(LOSSES))} (default: gce)")
    fit.add_argument("--cv", type=_in_range(int, 2, None), default=5,
                     help="cross-validation folds (default: %(default)s)")
    fit.add_argument("--epochs", type=_in_range(int, 1, None), default=100,
                     help="most training epochs (default: %(default)s)")
    fit.add_argument("--inject-noise", type=_in_range(float, 0, 1, high_open=True),
                     metavar="RATE",
                     help="corrupt this fraction of the training labels of every fit "
                     "(with --grid, cross-validation then scores on the clean held-out labels; "
                     "the saved model is trained on noised labels too): for experiments")
    _add_noise_options(fit, "--inject-noise", outside_file=True)
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    fit.add_argument("--out", type=Path, required=True, metavar="MODEL",
                     help="where to save the fitted model (joblib)")

    predict = sub.add_parser(
        "predict",
        help="predict the labels of a CSV file with a saved model",
        description="Apply a model saved by `sklearn-gce fit` to a CSV file with the same "
        "feature columns. Only load model files you trust: loading unpickles them.",
    )
    predict.add_argument("model", type=Path, metavar="MODEL", help="a model saved by `fit`")
    predict.add_argument("data", type=Path, metavar="DATA.csv", help="rows to predict")
    predict.add_argument("--out", type=Path, required=True, metavar="PREDICTIONS.csv",
                         help="where to write the predictions")
    predict.add_argument("--id-column", metavar="COLUMN",
                         help="write this column of DATA.csv beside the predictions")
    predict.add_argument("--proba", action="store_true",
                         help="also write one probability column per class")

    issues = sub.add_parser(
        "issues",
        help="find the rows of a CSV file whose labels are likely wrong",
        description="Fit GCEClassifierCV cross-fitted on a CSV file and flag the rows whose "
        "given label is likely wrong, by cleanlab's confident learning on its out-of-fold "
        "probabilities (sklearn_gce.find_label_issues). Writes one line per row, worst "
        "first: its id (or position), given label, suggested label, label quality "
        "(low: likely wrong) and whether it is flagged.",
    )
    issues.add_argument("data", type=Path, metavar="DATA.csv", help="the labelled rows")
    issues.add_argument("--target", required=True, metavar="COLUMN", help="the label column")
    issues.add_argument("--out", type=Path, required=True, metavar="ISSUES.csv",
                        help="where to write the report")
    issues.add_argument("--id-column", metavar="COLUMN",
                        help="a column of unique row ids, written in the report and left out of "
                        "the features (default: the rows' positions, from 0)")
    issues.add_argument("--preset", choices=list(PRESETS), default="fast",
                        help="fast: one q cross-fitted; thorough: two q with two initialisations "
                        "each, slower (see sklearn_gce.find_label_issues; default: %(default)s)")
    issues.add_argument("--filter-by", choices=FILTER_BY, default="prune_by_noise_rate",
                        metavar="RULE",
                        help=f"cleanlab's rule that flags rows, among {', '.join(FILTER_BY)} "
                        "(default: %(default)s)")
    issues.add_argument("--cv", type=_in_range(int, 2, None), default=5,
                        help="cross-fitting folds (default: %(default)s)")
    issues.add_argument("--epochs", type=_in_range(int, 1, None), default=100,
                        help="most training epochs (default: %(default)s)")
    issues.add_argument("--seed", "--random-state", type=int, default=0, dest="seed",
                        help="random seed (default: %(default)s)")
    return parser


# ----------------------------------------------------------------- main
def main(argv=None):
    """Run the ``sklearn-gce`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``.
        Without a command, the help is printed.

    Returns
    -------
    exit_code : int
        0 on success (and for ``--help``, ``--version`` or no command), 2 when
        the arguments are invalid (with argparse's usage message) or the input
        unusable (with one line ``sklearn-gce: error: ...`` on stderr), and 130
        when interrupted.

    Examples
    --------
    >>> from sklearn_gce._cli import main
    >>> main(["fit", "no-such-file.csv", "--target", "y", "--out", "model.joblib"])
    2
    """
    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else INPUT_ERROR
    if args.command is None:  # `sklearn-gce` alone, or with global options only
        parser.print_help()
        return 0
    commands = {"demo": _demo, "fit": _fit, "predict": _predict, "issues": _issues}
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(args.threads)
        commands[args.command](args)
    except CLIError as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).splitlines())  # one line, always
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return INPUT_ERROR
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)  # for callers of main() in a live process
    return 0


# ----------------------------------------------------------------- progress
class _EpochProgress(Callback):
    """Advance a progress bar at each epoch of a fit.

    The bar starts with ``max_epochs`` for the fit's first training run. A fit
    may run skorch's loop more than once (the default network trains the MLP,
    then the additive model; noise correction trains again): each later run
    adds its ``max_epochs`` to the total, and every run that stops early takes
    back the epochs it did not use, so the bar ends full and never overruns.
    A saved model keeps this callback without its bar, which then does nothing.
    """

    def __init__(self, bar):
        self.bar = bar
        self.runs = 0

    def on_train_begin(self, net, **kwargs):
        if self.bar is not None and self.runs:
            self.bar.total += net.max_epochs
        self.runs += 1
        self.epochs = 0

    def on_train_end(self, net, **kwargs):
        if self.bar is not None:
            self.bar.total -= net.max_epochs - self.epochs
            self.bar.refresh()

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1
        if self.bar is not None:
            self.bar.update(1)

    def __getstate__(self):
        return {**self.__dict__, "bar": None}  # a tqdm bar cannot be pickled, nor used after the fit


def _epoch_bar(total, description):
    return tqdm(total=total, desc=description, unit="epoch", file=sys.stderr, dynamic_ncols=True)


# ----------------------------------------------------------------- demo
class _EpochMonitor(_EpochProgress):
    """Record clean-test accuracy after each epoch, and advance a progress bar."""

    def __init__(self, X_test, y_test, bar):
        super().__init__(bar)
        self.X_test = X_test
        self.y_test = y_test

    def on_epoch_end(self, net, **kwargs):
        accuracy = float(np.mean(net.predict(self.X_test) == self.y_test))
        net.history.record("test_accuracy", accuracy)
        self.bar.set_postfix(test_acc=f"{accuracy:.3f}", refresh=False)
        super().on_epoch_end(net, **kwargs)


def _demo(args):
    out_dir = _ensure_dir(args.out)
    X, y = load_digits(return_X_y=True)
    outside = None
    if args.noise == "open_set":  # a task of the other digits, so that these are outside it
        out = np.isin(y, DEMO_OUTSIDE_CLASSES)
        X, y, outside = X[~out], y[~out], X[out]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    injector = _noise_injector(args, y_train, args.rate, args.seed, outside)
    _check_noise(injector, X_train, y_train)

    defaults = GCEClassifier()
    methods = [
        ("CE", "ce"),
        (f"GCE (q={defaults.q})", "gce"),
        (f"truncated GCE (q={defaults.q}, k={defaults.k})", "truncated"),
    ]
    results = []
    start = time.perf_counter()
    with _epoch_bar(len(methods) * args.epochs, None) as bar:
        for name, loss in methods:
            bar.set_description(loss)
            # The injector draws the same noisy labels for every method (same y and seed).
            model = Pipeline([
                ("noise", clone(injector)),
                ("clf", GCEClassifier(
                    loss=loss, max_epochs=args.epochs, random_state=args.seed,
                    callbacks=[("test_accuracy", _EpochMonitor(X_test, y_test, bar))],
                )),
            ]).fit(X_train, y_train)
            noise, clf = model.named_steps["noise"], model.named_steps["clf"]
            curve = np.asarray(clf.history[:, "test_accuracy"])
            results.append({
                "name": name, "loss": loss, "curve": curve,
                "accuracy": model.score(X_test, y_test),
                "issues": clf.pruned_rows_, "noise_mask": noise.noise_mask_,
            })
    elapsed = time.perf_counter() - start

    mask = results[0]["noise_mask"]
    if args.noise == "open_set":
        outside_digits = f"{min(DEMO_OUTSIDE_CLASSES)}-{max(DEMO_OUTSIDE_CLASSES)}"
        noise_text = (f"Open-set noise at rate {args.rate:g} replaced {mask.sum()} training images "
                      f"({mask.mean():.1%}) by images of {outside_digits} (labels: "
                      f"{args.outside_label}); test images are clean.")
    else:
        noise_text = (f"{_noise_text(args, args.rate).capitalize()} changed {mask.sum()} training "
                      f"labels ({mask.mean():.1%}); test labels are clean.")
    print(f"Digits: {len(y_train)} training and {len(y_test)} test images, "
          f"{len(np.unique(y))} classes. {noise_text}")
    print(f"Same MLP, at most {args.epochs} epochs (early stopping on a noisy 10% hold-out) "
          f"and seed {args.seed} for every method ({elapsed:.0f} s in all).\n")
    _print_table(
        ["method", "test acc", "best (epoch)", "pruned", "precision", "recall"],
        [_demo_row(r) for r in results],
    )
    print("\nbest (epoch): the highest clean-test accuracy along training, in hindsight.\n"
          "pruned: training rows that truncated GCE flagged as mislabelled (pruned_rows_);\n"
          "precision and recall: how many of them were truly flipped, and how many of the\n"
          "flipped rows they caught.")
    path = _plot_demo(results, out_dir / "demo.png", args)
    if path is not None:
        print(f"Plot written to {path}")


def _demo_row(result):
    curve = result["curve"]
    best = int(np.argmax(curve))
    row = [result["name"], f"{result['accuracy']:.3f}", f"{curve[best]:.3f} ({best + 1})"]
    if result["loss"] != "truncated":
        return row + ["-", "-", "-"]
    issues, mask = result["issues"], result["noise_mask"]
    hits = int(np.sum(issues & mask))
    precision = f"{hits / issues.sum():.3f}" if issues.any() else "-"
    recall = f"{hits / mask.sum():.3f}" if mask.any() else "-"
    return row + [str(int(issues.sum())), precision, recall]


def _plot_demo(results, path, args):
    """Clean-test accuracy per epoch of each method; ``None`` without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print(f"{PROG}: note: matplotlib is not installed, so no plot was written "
              "(pip install matplotlib).", file=sys.stderr)
        return None
    # A bare Figure with the Agg canvas: no pyplot, no global backend switch.
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for result in results:
        curve = result["curve"]
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="." if len(curve) < 20 else None,
                label=f"{result['name']}: {result['accuracy']:.3f}")
    ax.set(xlabel="epoch", ylabel="clean test accuracy",
           title=f"Digits, {_noise_text(args, args.rate)} on the training set")
    ax.grid(alpha=0.3)
    fig.legend(title="final test accuracy", loc="outside right center")
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise CLIError(f"cannot write the plot {path}: {exc.strerror or exc}") from exc
    return path


# ----------------------------------------------------------------- noise
def _noise_injector(args, y, rate, seed, outside=None):
    """The LabelNoiseInjector of ``--noise`` and the options it needs, refused where they do not fit."""
    given = {"mapping": args.mapping, "matrix": args.transition_matrix,
             "open_set": outside if outside is not None else getattr(args, "outside", None)}
    flags = {"mapping": "--mapping", "matrix": "--transition-matrix", "open_set": "--outside"}
    for noise, value in given.items():
        if value is not None and args.noise != noise:
            raise CLIError(f"{flags[noise]} is for --noise {noise}, not --noise {args.noise}")
    if args.noise in given and given[args.noise] is None:
        raise CLIError(f"--noise {args.noise} needs {flags[args.noise]}; see --help")
    options = {}
    if args.noise == "mapping":
        options["mapping"] = _parse_mapping(args.mapping, y)
    elif args.noise == "matrix":
        options["transition_matrix"] = _read_matrix(args.transition_matrix)
    elif args.noise == "open_set":
        options.update(outside=given["open_set"], outside_label=args.outside_label)
    return LabelNoiseInjector(noise=args.noise, rate=rate, random_state=seed, **options)


def _parse_mapping(pairs, y):
    """``--mapping``: a preset name, or ``FROM:TO`` pairs of the labels of ``y`` (written as in the file)."""
    if len(pairs) == 1 and pairs[0] in MAPPING_PRESETS:
        return pairs[0]
    classes = {str(c.item() if isinstance(c, np.generic) else c): c for c in np.unique(y)}
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition(":")
        if not sep:
            raise CLIError(f"--mapping {pair!r} is not FROM:TO (or one of {', '.join(MAPPING_PRESETS)})")
        for label in (source, target):
            if label not in classes:
                raise CLIError(f"--mapping {pair!r}: no class {label!r}; the classes are "
                               f"{', '.join(map(repr, classes))}")
        mapping[classes[source]] = classes[target]
    return mapping


def _read_matrix(path):
    """``--transition-matrix``: a CSV of numbers, K rows of K."""
    if not path.is_file():
        raise CLIError(f"file not found: {path}")
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CLIError(f"{path} is not a matrix of numbers (K rows of K, comma-separated, no "
                       f"header): {exc}") from exc


def _noise_text(args, rate):
    """The noise in words, e.g. ``symmetric noise at rate 0.4``."""
    if args.noise == "matrix":
        return f"noise from the matrix {args.transition_matrix}"
    extra = f" ({args.mapping[0]})" if args.noise == "mapping" and args.mapping[0] in MAPPING_PRESETS else ""
    return f"{args.noise.replace('_', '-')} noise at rate {rate:g}{extra}"


def _check_noise(injector, X, y):
    """Report noise settings the data cannot take (e.g. a rate too high) up front."""
    try:
        clone(injector).fit(X, y)
    except ValueError as exc:
        raise CLIError(f"cannot inject this label noise: {exc}") from exc


# ----------------------------------------------------------------- fit
def _make_pipeline(args, classifier, X, y):
    """``classifier``, after a noise injector when ``--inject-noise`` is set."""
    steps = []
    if args.inject_noise is not None:
        outside = None
        if args.outside is not None:
            outside = _read_csv(args.outside)
            missing = [c for c in X.columns if c not in outside.columns]
            if missing:
                raise CLIError(f"{args.outside} lacks {len(missing)} feature column(s) of "
                               f"{args.data}: {', '.join(map(repr, missing))}")
            outside = outside[list(X.columns)]
        injector = _noise_injector(args, y, args.inject_noise, args.seed, outside)
        _check_noise(injector, X, y)
        steps.append(("noise", injector))
    steps.append(("clf", classifier))
    return Pipeline(steps)


def _candidates(losses, qs):
    """The grid of the pipeline's classifier: q is crossed with the losses that use it only."""
    grid = loss_grid(list(dict.fromkeys(losses)), list(dict.fromkeys(qs)))
    return [{f"clf__{name}": values for name, values in entry.items()} for entry in grid]


def _accuracy_with_progress(bar):
    """The accuracy scorer, advancing ``bar`` at each held-out fold it scores."""
    accuracy = get_scorer("accuracy")

    def score(estimator, X, y):
        bar.update(1)
        return accuracy(estimator, X, y)

    return score


def _fit(args):
    _check_writable(args.out, "model.joblib")
    X, y, columns = _training_table(args)
    n_classes = y.nunique()
    n_numeric = len(columns.numeric_features_)
    described = (f"{len(X)} rows, {n_numeric} numeric and {X.shape[1] - n_numeric} categorical "
                 f"feature columns, {n_classes} classes")
    noised = ("" if args.inject_noise is None else
              f", training labels with {_noise_text(args, args.inject_noise)}")
    fit = _fit_grid if args.grid else _fit_cross_fitted
    model, best_params, best_score = fit(args, X, y, described, noised)
    bundle = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "pipeline": model,
        "target": args.target,
        "feature_names": list(model.feature_names_in_),
        "numeric_columns": list(columns.numeric_features_),
        "best_params": best_params,
        "cv_accuracy": best_score,
    }
    try:
        joblib.dump(bundle, args.out)
    except OSError as exc:
        raise CLIError(f"cannot write the model to {args.out}: {exc.strerror or exc}") from exc
    print(f"Model saved to {args.out}")


def _fit_cross_fitted(args, X, y, described, noised):
    """GCEClassifierCV: each q cross-fitted in one pass, the best out of fold kept."""
    qs = args.q if args.q is not None else GCEClassifierCV().qs
    losses = list(dict.fromkeys(args.loss))
    n_settings = sum(len(set(qs)) if loss in Q_LOSSES else 1 for loss in losses)
    print(f"{described}; GCEClassifierCV: {n_settings} setting(s), each cross-fitted on {args.cv} "
          f"folds in one pass, at most {args.epochs} epochs{noised}.")
    progress = _EpochProgress(None)
    clf = GCEClassifierCV(qs=tuple(qs), losses=tuple(losses), cv=args.cv, max_epochs=args.epochs,
                          random_state=args.seed, callbacks=[("progress", progress)])
    model = _make_pipeline(args, clf, X, y)  # the noise is checked before the bar opens
    with _epoch_bar(args.epochs, "GCEClassifierCV") as progress.bar:
        model.fit(X, y)
    progress.bar = None
    results = clf.cv_results_
    rows = []
    for i, params in enumerate(results["params"]):
        rows.append(["*" if i == clf.best_index_ else "", params["loss"],
                     f"{params['q']:g}" if "q" in params else "-",
                     f"{results['holdout_score'][i]:.3f}", str(int(results["n_epochs"][i]))])
    print()
    _print_table(["", "loss", "q", "out-of-fold accuracy", "epochs"], rows)
    scored = "the noised labels" if args.inject_noise is not None else "the given labels"
    print(f"\n* kept (out-of-fold accuracy on {scored}); the model predicts with the mean of its "
          f"{args.cv} cross-fitted members.")
    if "tree_weight" in clf.best_params_:
        print(f"Gradient-boosted trees beside them, weight {clf.best_params_['tree_weight']:g} chosen out "
              f"of fold: out-of-fold accuracy {clf.best_score_:.3f}.")
    print(f"{int(clf.label_issues_.sum())} of the {len(X)} rows are flagged as label issues (see `{PROG} issues`).")
    return model, dict(clf.best_params_), clf.best_score_


def _fit_grid(args, X, y, described, noised):
    """--grid: GridSearchCV of GCEClassifier, the best refitted on all rows."""
    qs = args.q if args.q is not None else [0.3, 0.5, 0.7, 0.9]
    model = _make_pipeline(args, GCEClassifier(max_epochs=args.epochs, random_state=args.seed), X, y)
    grid = _candidates(args.loss, qs)
    n_candidates = sum(int(np.prod([len(v) for v in g.values()])) for g in grid)
    splitter = StratifiedKFold(n_splits=args.cv, shuffle=True, random_state=args.seed)
    print(f"{described}; {args.cv}-fold cross-validation of {n_candidates} candidate(s), "
          f"{args.epochs} epochs each{noised}.")
    with tqdm(total=n_candidates * args.cv, desc="grid search", unit="fit", file=sys.stderr,
              dynamic_ncols=True) as bar:
        search = GridSearchCV(model, grid, scoring=_accuracy_with_progress(bar), cv=splitter,
                              error_score="raise").fit(X, y)

    results = search.cv_results_
    rows = []
    for i, params in enumerate(results["params"]):
        q = f"{params['clf__q']:g}" if "clf__q" in params else "-"
        rows.append(["*" if i == search.best_index_ else "", params["clf__loss"], q,
                     f"{results['mean_test_score'][i]:.3f} ± {results['std_test_score'][i]:.3f}",
                     f"{results['mean_fit_time'][i]:.2f}"])
    print()
    _print_table(["", "loss", "q", "accuracy (mean ± std)", "fit s"], rows)
    noted = " (scored on clean held-out labels)" if args.inject_noise is not None else ""
    print(f"\n* best{noted}; refitted on all {len(X)} rows.")
    best_params = {k.removeprefix("clf__"): v for k, v in search.best_params_.items()}
    return search.best_estimator_, best_params, search.best_score_


def _training_table(args):
    """The features and labels of ``args.data``, checked: ``(X, y, fitted TabularEncoder)``.

    Rows without a label and columns without a value are dropped, with a
    note. The index of ``X`` and ``y`` is the ``--id-column`` (read as text,
    so that ids such as ``007`` stay as written), else the rows' positions in
    the file, from 0, named ``row``.
    """
    id_column = getattr(args, "id_column", None)
    data = _read_csv(args.data, dtype=None if id_column is None else {id_column: str})
    if args.target not in data.columns:
        raise CLIError(
            f"no column {args.target!r} in {args.data}; the columns are: "
            f"{', '.join(map(repr, data.columns))}"
        )
    if id_column is not None:
        data = data.set_index(_checked_ids(data, id_column, args))
    else:
        data.index.name = "row"
    missing_target = data[args.target].isna()
    if missing_target.all():
        raise CLIError(f"the target column {args.target!r} is empty")
    if missing_target.any():
        print(f"{PROG}: note: dropping {missing_target.sum()} row(s) without a "
              f"{args.target!r} label", file=sys.stderr)
        data = data[~missing_target]
    y = _clean_target(data[args.target], args.target)
    X = data.drop(columns=args.target)
    empty = [c for c in X.columns if X[c].isna().all()]
    if empty:
        print(f"{PROG}: note: ignoring {len(empty)} column(s) without any value: "
              f"{', '.join(map(repr, empty))}", file=sys.stderr)
        X = X.drop(columns=empty)
    if X.shape[1] == 0:
        raise CLIError(f"{args.data} has no feature columns besides the target {args.target!r}")

    counts = y.value_counts()
    if len(counts) < 2:
        raise CLIError(f"the target {args.target!r} has a single class "
                       f"({_label(counts.index[0])}); a classifier needs at least two")
    if counts.min() < args.cv:
        raise CLIError(
            f"class {_label(counts.idxmin())} of {args.target!r} has {counts.min()} row(s), "
            f"fewer than the {args.cv} cross-validation folds; lower --cv or drop that class"
        )
    try:  # the estimator's own encoder, fitted here to report the column types up front
        columns = TabularEncoder().fit(X)
    except ValueError as exc:
        raise CLIError(f"cannot use the columns of {args.data}: {exc}") from exc
    return X, y, columns


def _checked_ids(data, id_column, args):
    """The ``--id-column`` of ``data``: present, other than the target, filled and unique."""
    if id_column not in data.columns:
        raise CLIError(
            f"no id column {id_column!r} in {args.data}; the columns are: "
            f"{', '.join(map(repr, data.columns))}"
        )
    if id_column == args.target:
        raise CLIError(f"--id-column and --target both name {id_column!r}; the ids are not labels")
    ids = data[id_column]
    if ids.isna().any():
        raise CLIError(f"the id column {id_column!r} has {ids.isna().sum()} empty value(s), the "
                       f"first in data row {int(np.flatnonzero(ids.isna())[0])}")
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise CLIError(f"the id column {id_column!r} repeats {repeated.nunique()} value(s), such as "
                       f"{repeated.iloc[0]!r}; each row needs an id of its own")
    return id_column


def _clean_target(y, name):
    """Check that ``y`` holds class labels; floats that are whole numbers become ints."""
    if pd.api.types.is_float_dtype(y) and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    kind = type_of_target(y.to_numpy())
    if kind == "continuous":
        raise CLIError(f"the target {name!r} holds continuous numbers (e.g. {y.iloc[0]}); "
                       "sklearn-gce trains classifiers, which need class labels")
    return y


# ----------------------------------------------------------------- issues
def _issues(args):
    _check_writable(args.out, "issues.csv")
    X, y, _ = _training_table(args)
    with _epoch_bar(args.epochs, f"find_label_issues ({args.preset})") as bar:
        report = find_label_issues(X, y, preset=args.preset, filter_by=args.filter_by, cv=args.cv,
                                   random_state=args.seed, max_epochs=args.epochs,
                                   callbacks=[("progress", _EpochProgress(bar))])
    try:
        report.to_csv(args.out)
    except OSError as exc:
        raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    flagged = int(report["is_label_issue"].sum())
    print(f"{len(report)} rows, {flagged} flagged as label issues ({flagged / len(report):.1%}); "
          f"the report, worst first, written to {args.out}")


# ----------------------------------------------------------------- predict
def _predict(args):
    bundle = _load_model(args.model)
    columns = bundle["feature_names"]
    # Categorical columns are read as text, as at fit (one holding only digits stays categorical).
    categorical = {c: str for c in columns if c not in set(bundle["numeric_columns"])}
    if args.id_column == bundle["target"]:
        raise CLIError(f"--id-column {args.id_column!r} is the name of the predicted column; "
                       "the ids need another")
    if args.id_column is not None and args.id_column not in columns:
        categorical[args.id_column] = str  # ids as written (007 stays 007)
    data = _read_csv(args.data, dtype=categorical)
    if args.id_column is not None and args.id_column not in data.columns:
        raise CLIError(f"no id column {args.id_column!r} in {args.data}; the columns are: "
                       f"{', '.join(map(repr, data.columns))}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise CLIError(
            f"{args.data} lacks {len(missing)} column(s) the model was trained on: "
            f"{', '.join(map(repr, missing))}"
        )
    X = data[columns]
    X.index = X.index + 2  # row numbers of the file (its header is row 1), for messages

    model = bundle["pipeline"]
    try:
        if args.proba:
            proba = model.predict_proba(X)
            classes = model.classes_
            labels = classes[np.argmax(proba, axis=1)]
        else:
            labels = model.predict(X)
    except ColumnTypeError as exc:
        raise CLIError(f"{args.data}: {exc}") from exc
    result = pd.DataFrame({bundle["target"]: labels})
    if args.id_column is not None:
        result.insert(0, args.id_column, data[args.id_column].to_numpy())
    if args.proba:
        for i, label in enumerate(classes):
            result[f"proba_{label}"] = proba[:, i]
    try:
        result.to_csv(args.out, index=False)
    except OSError as exc:
        raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    print(f"{len(result)} predictions written to {args.out}")


def _load_model(path):
    """Load a file written by ``fit``, refusing anything else with a clear message."""
    if not path.is_file():
        raise CLIError(f"model file not found: {path}")
    try:
        bundle = joblib.load(path)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from exc
    # Unpickling bytes that are not a pickle, or a pickle of classes that are not
    # importable here, can raise almost anything (UnpicklingError, EOFError,
    # struct.error, ImportError, KeyError...: see the `pickle` docs), so this one
    # call is guarded broadly; --debug shows the original exception.
    except Exception as exc:
        raise CLIError(f"{path} is not a sklearn-gce model (it cannot be loaded: "
                       f"{type(exc).__name__})") from exc
    if not (isinstance(bundle, dict) and bundle.get("format") == MODEL_FORMAT):
        raise CLIError(f"{path} is not a sklearn-gce model (save one with `{PROG} fit`)")
    if bundle.get("format_version") != MODEL_FORMAT_VERSION:
        raise CLIError(f"{path} was saved in model format {bundle.get('format_version')!r}, "
                       f"this sklearn-gce reads format {MODEL_FORMAT_VERSION}")
    return bundle


# ----------------------------------------------------------------- helpers
def _read_csv(path, dtype=None):
    """Read a CSV into a DataFrame with at least one row, or raise CLIError."""
    if not path.exists():
        raise CLIError(f"file not found: {path}")
    if path.is_dir():
        raise CLIError(f"{path} is a folder, not a CSV file")
    try:
        data = pd.read_csv(path, dtype=dtype)
    except pd.errors.EmptyDataError:
        raise CLIError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLIError(f"cannot parse {path} as CSV: {reason}") from exc
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if data.empty:
        raise CLIError(f"{path} has no data rows")
    return data


def _ensure_dir(path):
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise CLIError(f"{path} exists and is not a folder") from None
    except OSError as exc:
        raise CLIError(f"cannot create the folder {path}: {exc.strerror or exc}") from exc
    return path


def _check_writable(path, example):
    """Fail before a long fit rather than after it when the output cannot be written."""
    if path.is_dir():
        raise CLIError(f"--out {path} is a folder; give a file name such as {example}")
    if not path.parent.is_dir():
        raise CLIError(f"the folder of --out {path} does not exist")


def _label(value):
    """A class label for messages: ``'cat'`` or ``3``, not ``np.int64(3)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _print_table(header, rows):
    """Print left-aligned columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
