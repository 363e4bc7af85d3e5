"""The learning rate and the embedding's bins of the 0.3 defaults, chosen on the tuning seeds.

What it measures
----------------
``GCEClassifier`` with six candidate settings of ``lr`` and
``module__n_bins`` (the defaults before 0.3: ``lr=1e-3``, 16 bins), each run
by ``accuracy.py --gce-params`` on the tuning seeds 0 and 1 only (seed 2 is
never looked at here), on every data set of ``accuracy.py`` (the synthetic
one drops out of the comparison: ``accuracy.csv`` has no fit of the defaults
before on it), with clean labels,
40% symmetric, 20% pair-flip and 40% instance-dependent noise. Each candidate
is compared, seed-paired, with the defaults before 0.3 (the ``GCE (lr 1e-3,
16 bins)`` rows of ``results/accuracy.csv``, the same splits and noisy
labels) and with the best peer of ``accuracy.py``'s scorecard (the careful
peers included).

Outputs: ``results/bins_and_lr/<candidate>/accuracy.csv`` (``accuracy.py``'s
own output per candidate) and ``results/bins_and_lr.md``: per candidate,
settings at or above the best peer, settings more than 1.0 behind, the mean
gain over the defaults before, per table and over all, and the fit time over
theirs (fits of different runs, under load: loose).

Commands
--------
    python benchmarks/bins_and_lr.py --n-jobs 2        # runs the candidates not run yet (about 6 min each)
    python benchmarks/bins_and_lr.py --report-only     # the table from what is there
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402
from _grid import BASELINES, KEYS, SETTING, TUNING_SEEDS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
CANDIDATES = {
    "lr 3e-3, 16 bins": {"lr": 0.003, "module__n_bins": 16},
    "lr 1e-3, 64 bins": {"lr": 0.001, "module__n_bins": 64},
    "lr 3e-3, 32 bins": {"lr": 0.003, "module__n_bins": 32},
    "lr 2e-3, 64 bins": {"lr": 0.002, "module__n_bins": 64},
    "lr 3e-3, 64 bins": {"lr": 0.003, "module__n_bins": 64},
    "lr 3e-3, 128 bins": {"lr": 0.003, "module__n_bins": 128},
}
NOISES = ["none:0", "symmetric:0.4", "pairflip:0.2", "instance:0.4"]


def folder(name):
    return os.path.join(RESULTS, "bins_and_lr", name.replace(" ", "_").replace(",", ""))


def run(name, n_jobs):
    out = folder(name)
    if os.path.exists(os.path.join(out, "accuracy.csv")):
        print(f"{name}: already in {out}", flush=True)
        return
    command = [sys.executable, os.path.join(HERE, "accuracy.py"), "--n-jobs", str(n_jobs),
               "--seeds", str(len(TUNING_SEEDS)), "--methods", "GCE (gce)", "--gce-params",
               json.dumps(CANDIDATES[name]), "--out", out, "--noises", *NOISES]
    print(f"{name}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True)


def report():
    main = pd.read_csv(os.path.join(RESULTS, "accuracy.csv"))
    main = main[main.seed.isin(TUNING_SEEDS)]
    before = main[main.method == B.PREVIOUS_DEFAULTS].set_index(KEYS)
    peers = main[main.method.isin(BASELINES)].groupby(KEYS).accuracy.max() * 100
    rows, per_table = [], {}
    for name in CANDIDATES:
        path = os.path.join(folder(name), "accuracy.csv")
        if not os.path.exists(path):
            continue
        new = pd.read_csv(path)
        new = new[new.method == "GCE (gce)"].set_index(KEYS)
        d = pd.DataFrame({"new": new.accuracy * 100, "before": before.accuracy * 100, "peer": peers,
                          "ratio": new.fit_seconds / before.fit_seconds}).dropna()
        by_setting = d.groupby(SETTING).mean()
        gap = by_setting.new - by_setting.peer
        rows.append({"candidate": name, "settings": len(gap),
                     "at or above best peer": int((gap >= -1e-9).sum()),
                     "the defaults before": int((by_setting.before - by_setting.peer >= -1e-9).sum()),
                     "more than 1.0 behind": int((gap < -1.0).sum()),
                     "mean gain over before": (d.new - d.before).mean(),
                     "fit time / before": float(np.exp(np.log(d.ratio).mean()))})
        per_table[name] = (d.new - d.before).groupby(level="dataset").mean()
    if not rows:
        return ""
    lines = ["# The learning rate and the bins of the 0.3 defaults", "",
             "Produced by `python benchmarks/bins_and_lr.py --n-jobs 2` (see its docstring). Tuning seeds "
             f"{list(TUNING_SEEDS)} only; settings: {', '.join(NOISES)} on every data set of `accuracy.py` but the "
             "synthetic one (no rows of the defaults before in `accuracy.csv`). Seed-paired "
             f"against the defaults before 0.3 (`{B.PREVIOUS_DEFAULTS}`) and the best peer of each setting "
             f"({', '.join(BASELINES)}).", "",
             pd.DataFrame(rows).round(2).to_markdown(index=False), "",
             "Mean gain over the defaults before, per table (points):", "",
             pd.DataFrame(per_table).round(2).to_markdown(), ""]
    text = "\n".join(lines)
    with open(os.path.join(RESULTS, "bins_and_lr.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        for name in CANDIDATES:
            run(name, args.n_jobs)
    print(report())


if __name__ == "__main__":
    main()
