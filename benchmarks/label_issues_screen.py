"""Screening one-pass configurations for finding flipped labels, against peers recorded by ``label_issues.py``.

``label_issues.py`` fits every detector on every setting; most of its time goes to the
peers (five separate ``GCEClassifier`` fits per setting). To compare configurations of the
one pass on the tuning seeds, this script fits only the one pass, on the same settings
(``label_issues.prepare`` and ``plan``: the same split, subsample, noise and seed), and scores
its flags against the best cleanlab peer's F1 recorded in a ``label_issues.py`` csv
(``--reference``) for the same settings.

The time ratio it prints is an estimate: the one pass timed here over the five separate fits
timed in the reference run, possibly on another machine under another load. A configuration
chosen here is then measured by ``label_issues.py`` itself, on seeds it was not chosen on.

Commands
--------
    python benchmarks/label_issues_screen.py --configs p10 ens2x64p10 w128p10 q6789x64p10 --seeds 0 1
    python benchmarks/label_issues_screen.py --configs ens2x64p10b256 ens2x96p10b256 --seeds 0 1
    python benchmarks/label_issues_screen.py --configs ens2x64p10 --seeds 2 3
    python benchmarks/label_issues_screen.py --configs p10 --seeds 6 7 --reference benchmarks/results/label_issues_q79_ens2_seeds4567/label_issues.csv --out benchmarks/results/label_issues_screen_p10_seeds67
    python benchmarks/label_issues_screen.py                 # only rewrite the summary from the csv

The command with ``--reference`` scores the 96-wide pair (p10) on seeds 6 and 7 against the peers of the run that measured
ens2x64p10 there (``label_issues.py``, seeds 4 to 7; the peers are deterministic: on seeds 4 and 5 that
run's peers' F1 equal those of ``label_issues_q79_p10_seeds45`` exactly), so the two are compared on the
same seeds.

The recorded csv lacks 6 of q6789x64p10's 72 settings: a second run started before the first had
written its last rows, and overwrote them (the summary counts the settings each configuration has).

Outputs (``--out``, default ``benchmarks/results``): ``label_issues_screen.csv`` (one row per
configuration and setting; a later run adds its rows) and ``label_issues_screen.md``.
"""

import argparse
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import label_issues as L  # noqa: E402

_PAIR = {"cv": 5, "qs": (0.7, 0.9), "losses": ("gce",), "ensemble": 2, "n_iter_no_change": 10}
CONFIGS = {
    # label_issues.py's "q0.7|0.9 mean, patience 10": two q per fold, 96 wide, averaged
    "p10": {**_PAIR, "module__hidden_sizes": (96, 96)},
    # two initialisations of each q (20 members), 64 wide
    "ens2x64p10": {**_PAIR, "ensemble_size": 2},
    # the pair, 128 wide
    "w128p10": {**_PAIR, "module__hidden_sizes": (128, 128)},
    # four q around 0.8, 64 wide, all averaged
    "q6789x64p10": {**_PAIR, "qs": (0.6, 0.7, 0.8, 0.9), "ensemble": 4},
    # 20 members in batches of 256 (fewer steps), 64 and 96 wide
    "ens2x64p10b256": {**_PAIR, "ensemble_size": 2, "batch_size": 256},
    "ens2x96p10b256": {**_PAIR, "ensemble_size": 2, "batch_size": 256, "module__hidden_sizes": (96, 96)},
}
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "label_issues_q79_p10",
                         "label_issues.csv")


def run_one(name, cell, max_train):
    """The one pass of configuration ``name`` on one setting: a csv row."""
    L.B.limit_threads(1)
    L._warm_up()
    dataset, noise, rate, seed = cell
    X_tr, X_te, y_tr, y_te, y_noisy, _ = L.prepare(dataset, noise, rate, seed, max_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = L.one_pass_scores(CONFIGS[name], seed, X_tr, y_noisy, X_te, y_te, y_noisy != y_tr)
    return {"config": name, "dataset": dataset, "noise": noise, "rate": rate, "seed": seed, **scores}


def summarise(rows, reference):
    """Per configuration and seed: settings within 0.01 of the best recorded cleanlab peer, above it, mean F1."""
    ref = pd.read_csv(reference)
    f1 = ref.pivot_table(index=L.KEYS, columns="detector", values="f1")
    sec = ref.pivot_table(index=L.KEYS, columns="detector", values="fit_seconds")
    s = rows.set_index(L.KEYS).join(f1[L.CL_PEERS].max(axis=1).rename("best_cl"), how="inner")
    s = s.join(sec["CL(5x GCE)"].rename("five_fits_s"))
    s["within"] = L.within(s["f1"], s["best_cl"])
    s["above"] = s["f1"] > s["best_cl"]
    s["ratio"] = s["fit_seconds"] / s["five_fits_s"]
    agg = {"settings": ("within", "size"), "within 0.01": ("within", "sum"), "above": ("above", "sum"),
           "mean F1": ("f1", "mean"), "mean best CL F1": ("best_cl", "mean"),
           "clean-test acc": ("test_accuracy", "mean"), "time ratio (est.)": ("ratio", "median")}
    flat = s.reset_index()
    return (flat.groupby(["config", "seed"]).agg(**agg).round(3),
            flat.groupby("config").agg(**agg).round(3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--configs", nargs="+", default=[], choices=list(CONFIGS),
                        help="the configurations to fit (none: only rewrite the summary from the csv)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--reference", default=REFERENCE, help="a label_issues.py csv with the peers' F1")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    stem = os.path.join(args.out, "label_issues_screen")
    rows = pd.read_csv(stem + ".csv").to_dict("records") if os.path.exists(stem + ".csv") else []
    cells, _ = L.plan(L.DATASETS, args.seeds)
    jobs = [(name, cell) for name in args.configs for cell in cells]
    if not rows and not jobs:
        parser.error(f"nothing to fit and no {stem}.csv to summarise")
    print(f"{len(jobs)} one-pass fits on {args.n_jobs} worker(s)", flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, name, cell, args.max_train) for name, cell in jobs]
        for i, future in enumerate(as_completed(futures), 1):
            rows.append(future.result())
            pd.DataFrame(rows).to_csv(stem + ".csv", index=False)
            if i % 12 == 0 or i == len(jobs):
                print(f"  {i} of {len(jobs)}; {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    per_seed, per_config = summarise(pd.DataFrame(rows), args.reference)
    text = "\n".join([
        "# Screening one-pass configurations (label_issues_screen.py)", "",
        "Each configuration's one pass on the settings of `label_issues.py` (same split, subsample, noise, seed), "
        f"its F1 against the best cleanlab peer's F1 recorded in `{os.path.relpath(args.reference, args.out)}`. "
        "Time ratio: this run's one-pass fit over the recorded five separate fits (an estimate: "
        "other runs, perhaps another machine). See the script's docstring for the configurations.", "",
        "## Per configuration", "", per_config.to_markdown(), "",
        "## Per configuration and seed", "", per_seed.to_markdown(), ""])
    with open(stem + ".md", "w") as f:
        f.write(text)
    print(per_config.to_string())
    print(f"wrote {stem}.md, .csv")


if __name__ == "__main__":
    main()
