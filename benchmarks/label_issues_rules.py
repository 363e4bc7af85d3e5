"""Which cleanlab flag rule, applied alike to every detector's out-of-fold probabilities.

``label_issues.py`` flags rows with cleanlab's default rule
(``find_label_issues(..., filter_by="prune_by_noise_rate")``) for every detector. This
script keeps the out-of-fold probabilities of the one pass (the recipe
``"q0.7|0.9 mean, patience 10"`` of ``label_issues.py``) and of the three cleanlab peers
(logistic regression, ``HistGradientBoostingClassifier(early_stopping=True)``, five
separate default ``GCEClassifier`` fits; as ``label_issues.py`` makes them), on the same
settings, then flags with each of cleanlab's rules, **the same rule for all four**, and
counts the settings where the one pass's F1 is within 0.01 of the best peer's and above it.
No fit time is measured.

Commands
--------
    python benchmarks/label_issues_rules.py --seeds 0 4          # 72 settings, about 25 min on 2 cores
    python benchmarks/label_issues_rules.py --seeds 0 1 2 4      # adds seeds 1 and 2 (the fits of 0 and 4 are kept)

Outputs (``--out``, default ``benchmarks/results``): ``label_issues_rules.csv`` (F1 and
flag count per setting, rule and detector), ``label_issues_rules.md``; the probabilities
are kept in ``<out>/label_issues_rules_proba/`` (one ``.npz`` per setting, not committed),
so a later run only adds the settings it lacks.
"""

import argparse
import glob
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import label_issues as L  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

RULES = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given",
         "low_normalized_margin", "low_self_confidence"]
ONE_PASS = "q0.7|0.9 mean, patience 10"


def _path(cache, cell):
    return os.path.join(cache, "_".join(map(str, cell)) + ".npz")


def probabilities(cell, cache):
    """Out-of-fold probabilities of the one pass and the three peers on one setting, saved to ``cache``."""
    L.B.limit_threads(1)
    dataset, noise, rate, seed = cell
    X_tr, _, y_tr, _, y_noisy, _ = L.prepare(dataset, noise, rate, seed, 2000)
    out = {"y": y_tr, "y_noisy": y_noisy}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out[L.ONE_PASS] = L.GCEClassifierCV(**L.ONE_PASS_CONFIGS[ONE_PASS], random_state=seed).fit(
            X_tr, y_noisy).oof_proba_
        for name, make in L.peer_models(seed).items():
            out[name] = L.oof_proba(make, X_tr, y_noisy, seed)
    np.savez(_path(cache, cell), **out)
    return cell


def flag_scores(cache):
    """F1 and flag count of every detector under every rule, one row each."""
    from cleanlab.filter import find_label_issues

    rows = []
    for path in sorted(glob.glob(os.path.join(cache, "*.npz"))):
        dataset, noise, rate, seed = os.path.basename(path)[:-4].split("_")
        z = np.load(path)
        flipped = z["y"] != z["y_noisy"]
        for rule in RULES:
            for detector in [L.ONE_PASS, *L.CL_PEERS]:
                flags = find_label_issues(z["y_noisy"], z[detector], filter_by=rule, n_jobs=1)
                rows.append({"dataset": dataset, "noise": noise, "rate": float(rate), "seed": int(seed),
                             "rule": rule, "detector": detector, "f1": f1_score(flipped, flags),
                             "n_flagged": int(flags.sum())})
    return pd.DataFrame(rows)


def summary(df):
    """Per rule and seed: the one pass within 0.01 of / above the best peer under the same rule; mean F1s."""
    wide = df.pivot_table(index=[*L.KEYS, "rule"], columns="detector", values="f1")
    wide["best peer"] = wide[L.CL_PEERS].max(axis=1)
    wide["within"] = L.within(wide[L.ONE_PASS], wide["best peer"])
    wide["above"] = wide[L.ONE_PASS] > wide["best peer"]
    agg = {"settings": ("within", "size"), "within 0.01": ("within", "sum"), "above": ("above", "sum"),
           **{f"F1 {d}": (d, "mean") for d in [L.ONE_PASS, *L.CL_PEERS]}}
    flat = wide.reset_index()
    return flat.groupby(["rule", "seed"]).agg(**agg).round(3), flat.groupby("rule").agg(**agg).round(3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    cache = os.path.join(args.out, "label_issues_rules_proba")
    os.makedirs(cache, exist_ok=True)
    cells, _ = L.plan(L.DATASETS, args.seeds)
    cells = [c for c in cells if not os.path.exists(_path(cache, c))]
    print(f"{len(cells)} settings to fit on {args.n_jobs} worker(s)", flush=True)
    with ProcessPoolExecutor(args.n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, future in enumerate(as_completed([pool.submit(probabilities, c, cache) for c in cells]), 1):
            print(f"  {i} of {len(cells)}: {future.result()}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = flag_scores(cache)
    stem = os.path.join(args.out, "label_issues_rules")
    df.to_csv(stem + ".csv", index=False)
    per_seed, per_rule = summary(df)
    with open(stem + ".md", "w") as f:
        f.write("\n".join([
            "# One cleanlab flag rule for every detector (label_issues_rules.py)", "",
            f"Seeds: {', '.join(map(str, sorted(set(df.seed))))}. The one pass is `label_issues.py`'s "
            f"`{ONE_PASS}`; the peers as there. Each rule of `cleanlab.filter.find_label_issues(filter_by=...)` "
            "flags every detector's out-of-fold probabilities; `within 0.01` / `above` compare the one pass's F1 "
            "with the best peer's under the same rule (`prune_by_noise_rate` is cleanlab's default, the one "
            "`label_issues.py` uses).", "",
            "## Per rule", "", per_rule.to_markdown(), "", "## Per rule and seed", "", per_seed.to_markdown(), ""]))
    print(per_rule.to_string())
    print(f"wrote {stem}.md, .csv")


if __name__ == "__main__":
    main()
