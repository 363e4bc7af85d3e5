"""How wide and how many: the cross-fitted members' default, chosen on the tuning seeds (issue 23).

What it measures
----------------
``GCEClassifierCV(cv=k, qs=(0.8,), losses=("gce",))`` (``k`` members
cross-fitted in one pass, predicting with their mean: bagging) for candidate
fold counts, member widths (``module__hidden_sizes``) and batch sizes,
against the default ``GCEClassifier`` on the same split and noisy labels.
Seeds 0 and 1 only (seed 2 is never looked at here); seven tables of
``accuracy.py`` (flights, gsswages, diamonds, storms, hpc, Kershaw, digits:
the three where trees lead with clean labels and four where the network
does), ``accuracy.py``'s split (70/30, stratified) and preprocessing, clean
labels, 40% symmetric and 20% pair-flip noise on the training rows; accuracy
on the clean test labels. Each fit on one thread, two at once.

Outputs: ``results/bagged_members.csv`` (one row per fit) and
``results/bagged_members.md``: per candidate, the mean gain over the default
(and its wins over the 21 settings), per table, and the fit time over the
default's (geometric mean over the tables; fits of different invocations,
both two at a time: loose).

Commands
--------
    python benchmarks/bagged_members.py                  # the fits not run yet (every candidate: about 70 min)
    python benchmarks/bagged_members.py --candidates "cv=5, 96 wide" default
    python benchmarks/bagged_members.py --report-only    # the table from what is there
    python benchmarks/bagged_members.py --run q --candidates "cv=5, 96 wide, q=0.5" "cv=5, 64 wide, qs=(0.2, 0.8)"
    python benchmarks/bagged_members.py --run w48 --candidates "cv=5, 48 wide, qs=(0.2, 0.8)" "race, 10 settings (GCEClassifierCV 0.2)"
"""

import argparse
import os
import sys
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "results", "bagged_members.csv")
MD = os.path.join(HERE, "results", "bagged_members.md")
DATASETS = ["flights", "gsswages", "diamonds", "storms", "hpc", "kershaw", "digits"]
SETTINGS = [("none", 0.0), ("symmetric", 0.4), ("pairflip", 0.2)]
TUNING_SEEDS = [0, 1]
DEFAULT = "default"  # GCEClassifier()
RACE = "race, 10 settings (GCEClassifierCV 0.2)"
CANDIDATES = {
    DEFAULT: None,
    "cv=5, 256 wide": dict(cv=5, module__hidden_sizes=(256, 256)),
    "cv=3, 256 wide": dict(cv=3, module__hidden_sizes=(256, 256)),
    "cv=5, 256 wide, batch 256": dict(cv=5, batch_size=256, module__hidden_sizes=(256, 256)),
    "cv=5, 128 wide": dict(cv=5, module__hidden_sizes=(128, 128)),
    "cv=5, 128 wide, batch 256": dict(cv=5, batch_size=256, module__hidden_sizes=(128, 128)),
    "cv=5, 96 wide": dict(cv=5, module__hidden_sizes=(96, 96)),
    "cv=5, 64 wide": dict(cv=5, module__hidden_sizes=(64, 64)),
    "cv=8, 64 wide": dict(cv=8, module__hidden_sizes=(64, 64)),
    # the q of the members: one lower q, and two chosen out of fold (members 64 wide: ten of
    # them cost about what five of 96 do)
    "cv=5, 96 wide, q=0.5": dict(cv=5, qs=(0.5,), module__hidden_sizes=(96, 96)),
    "cv=5, 64 wide, qs=(0.2, 0.8)": dict(cv=5, qs=(0.2, 0.8), module__hidden_sizes=(64, 64)),
    "cv=5, 48 wide, qs=(0.2, 0.8)": dict(cv=5, qs=(0.2, 0.8), module__hidden_sizes=(48, 48)),
    # GCEClassifierCV's defaults of 0.2: the race of ten settings on a 10% hold-out, members of
    # GCEClassifier's width (the cost a new default of GCEClassifierCV is held to)
    RACE: B.RACE_GRID,
}
# The candidate whose fits every invocation's times are compared with (see ``report``).
SAME_RUN_REFERENCE = "cv=5, 96 wide"


KEY = ["dataset", "noise", "rate", "seed", "candidate"]


def cell(dataset, noise, rate, seed, candidate, run="first"):
    """One fit of ``candidate`` on ``dataset``'s split at ``seed``, noisy training labels.

    Returns
    -------
    row : dict
        The cell (``KEY``), the clean-test ``accuracy``, ``fit_seconds`` and
        the epochs of the history.
    """
    from sklearn_gce import GCEClassifier, GCEClassifierCV

    warnings.simplefilter("ignore")
    B.limit_threads(1)  # two fits at once on two cores
    ds = B.load(dataset)
    X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
    y_noisy, _ = B.inject(noise, rate, y_tr, seed, ds.n_classes)
    params = CANDIDATES[candidate]
    if params is None:
        def make():
            return GCEClassifier(random_state=seed)
    else:
        def make():
            return GCEClassifierCV(**{"qs": (0.8,), "losses": ("gce",), **params}, random_state=seed)
    accuracy, fit_seconds, clf = B.fit_score(make, X_tr, y_noisy, X_te, y_te, return_estimator=True)
    return dict(dataset=dataset, noise=noise, rate=rate, seed=seed, candidate=candidate,
                accuracy=accuracy, fit_seconds=fit_seconds, epochs=len(clf.history),
                chosen_q=getattr(clf, "best_params_", {}).get("q", np.nan), run=run)


def report(df):
    """Write ``bagged_members.md`` from the fits in ``df`` and print the summary."""
    if DEFAULT not in set(df.get("candidate", ())):
        raise SystemExit(f"{CSV} has no fit of {DEFAULT!r}, the reference: run it "
                         f"(--candidates {DEFAULT}).")
    run = df["run"].fillna("first") if "run" in df else pd.Series("first", index=df.index)
    times_df = df
    df = df[(df.candidate != SAME_RUN_REFERENCE) | (run == "first")]  # reruns repeat its accuracy
    acc = df.pivot_table(index=["dataset", "noise"], columns="candidate", values="accuracy") * 100
    gain = acc.sub(acc[DEFAULT], axis=0).drop(columns=DEFAULT)
    times = df.pivot_table(index="dataset", columns="candidate", values="fit_seconds", aggfunc="mean")
    ratio = times.div(times[DEFAULT], axis=0).drop(columns=DEFAULT)
    # Machine load drifts between invocations: a candidate of a named run (--run) is timed
    # against the reference's fits of the same run, scaled by the reference's first-run ratio.
    for cand in ratio.columns.drop(SAME_RUN_REFERENCE, errors="ignore"):
        runs = set(run[times_df.candidate == cand]) - {"first"}
        if runs:
            ref = times_df[(times_df.candidate == SAME_RUN_REFERENCE) & run.isin(runs)]
            mine = times_df[times_df.candidate == cand].groupby("dataset").fit_seconds.mean()
            ratio[cand] = mine / ref.groupby("dataset").fit_seconds.mean() * ratio[SAME_RUN_REFERENCE]
    summary = pd.DataFrame({
        "mean gain (points)": gain.mean(),
        "settings better": (gain > 0).sum(),
        "of": gain.notna().sum(),
        "fit time / default (geo. mean)": np.exp(np.log(ratio).mean()),
    }).sort_values("mean gain (points)", ascending=False).round(2)
    lines = [
        "# Cross-fitted members: how many, how wide (issue 23)", "",
        "Generated by `python benchmarks/bagged_members.py` (see its docstring). Seeds 0 and 1 only; "
        "accuracy (%) on clean test labels, mean over the seeds; `GCEClassifierCV(cv=k, qs=(0.8,), "
        "losses=(\"gce\",))` (or the candidate's `qs`) against the default `GCEClassifier`, seed-paired. "
        f"Candidates of a named run (`--run`) are timed against {SAME_RUN_REFERENCE!r} refitted in that run.", "",
        "## Summary", "", summary.to_markdown(), "",
        "## Gain over the default, per setting (points)", "", gain.round(1).to_markdown(), "",
        "## Fit time over the default's, per table", "", ratio.round(2).to_markdown(), "",
        "## Accuracy", "", acc.round(1).to_markdown(), "",
    ]
    with open(MD, "w") as f:
        f.write("\n".join(lines))
    print(summary.to_string())


def pending(rows, candidates, run="first"):
    """The fits of ``candidates`` (and, in a named run, the reference) not among ``rows`` yet."""
    def key(d, n, r, s, c, run):  # the reference is fitted once per run
        return (d, n, r, s, c, run if c == SAME_RUN_REFERENCE else "")
    # rows from before the column existed (NaN in the csv) belong to the first run
    done = {key(*(row[k] for k in KEY), row.get("run") if isinstance(row.get("run"), str) else "first")
            for row in rows}
    wanted = list(candidates)
    if run != "first" and SAME_RUN_REFERENCE not in wanted:
        wanted.append(SAME_RUN_REFERENCE)
    return [(d, n, r, s, c, run) for s in TUNING_SEEDS for d in DATASETS for n, r in SETTINGS
            for c in wanted if key(d, n, r, s, c, run) not in done]


def main():
    """Run the candidates' fits not in ``bagged_members.csv`` yet (saved as each ends), then report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-jobs", type=int, default=2, help="fits at once, one thread each (default 2)")
    ap.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--run", default="first",
                    help=f"a name for this invocation: with a new name, {SAME_RUN_REFERENCE!r} is fitted "
                         "again beside the candidates, and their times are taken against it")
    args = ap.parse_args()
    unknown = sorted(set(args.candidates) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {list(CANDIDATES)}")
    rows = pd.read_csv(CSV).to_dict("records") if os.path.exists(CSV) else []
    if not args.report_only:
        from joblib import Parallel, delayed

        jobs = pending(rows, args.candidates, args.run)
        print(f"{len(jobs)} fits to run, {len(rows)} already in {CSV}", flush=True)
        fits = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(delayed(cell)(*j) for j in jobs)
        for row in fits:  # saved as each ends: an interrupted run goes on where it stopped
            rows.append(row)
            pd.DataFrame(rows).to_csv(CSV, index=False)
            print(f"{row['dataset']}/{row['noise']}/seed {row['seed']}/{row['candidate']}: "
                  f"{row['accuracy']:.3f} in {row['fit_seconds']:.0f} s ({len(rows)} fits)", flush=True)
    if not rows:
        raise SystemExit(f"No fits yet in {CSV}: run without --report-only first.")
    report(pd.DataFrame(rows))


if __name__ == "__main__":
    main()
