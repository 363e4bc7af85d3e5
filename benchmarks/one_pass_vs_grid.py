"""One pass against a grid search: GCEClassifierCV and GridSearchCV(GCEClassifier) fitted side by side, time and accuracy.

Not to be mixed up with the retired ``member_race.py`` (``results/member_race.md``),
which timed nothing: it recorded GCEClassifierCV fits without a race and
replayed race rules and ensembles on its members' per-epoch curves.

What it measures
----------------
Wall time and clean-test accuracy, side by side in one run, on digits and two
real tables (modeldata/hpc_data -> class, mosaicData/Weather -> city; the
preprocessing of ``benchmarks/accuracy.py``), with clean labels and with 40%
symmetric noise on the training split, of:

* ``GridSearchCV``: ``GridSearchCV(GCEClassifier(random_state=seed,
  module__additive_member=False), {"q": QS, "loss": LOSSES}, cv=3)`` (the
  MLP alone, the members' network; scored, as any user's search would be,
  by accuracy on the noisy labels of the held-out folds; refit on all rows);
* ``one pass``: ``GCEClassifierCV(qs=QS, losses=LOSSES, random_state=seed, cv=None)``,
  its members sharing no weight and racing (the default
  ``n_iter_no_change_behind=3``: a setting that trails on the hold-out stops
  early); besides the setting it chooses, the table gives the best member by
  clean test accuracy (an oracle, the ceiling of any choice);
* ``ensemble mode``: the same with ``ensemble=True`` (no race: every member
  trains to its own early stopping), predicting with its ensemble of
  members; the same fit gives ``one pass, no race``, the setting it chooses
  (the choice ``n_iter_no_change_behind=None`` would make, from the same
  training);
* ``one pass, shared trunk``: the same with ``module__shared_blocks=2`` (the
  members share the embedding and both hidden blocks, each has its own output
  layer);
* ``default``: one ``GCEClassifier(random_state=seed, module__additive_member=False)``
  (the MLP alone, the default network until issue 11);
* ``ensemble x8``: ``GCEClassifierCV(qs=(0.8,), losses=("gce",),
  ensemble_size=8, cv=None)``, eight members of the default setting averaged (TabM's
  recipe with k = 8).

It also times one training epoch of the default network with k = 1, 8 and 32
stacked members (``--device cuda`` on a GPU).

The grid is ``QS = (0.3, 0.5, 0.7, 0.9, 1.0)`` x ``LOSSES = ("gce",
"truncated")``, 10 settings. Whether the choice on noisy hold-out labels is a
valid one is checked against clean labels: per one-pass fit, the Spearman
correlation between the settings' hold-out scores and their clean test
accuracy, and the regret (oracle minus chosen).

Fits run one after the other in this process with torch's default threads
(2 on the 2-core machine), the methods' order rotating from cell to cell;
nothing else may run meanwhile. Outputs in ``--out`` (default
``benchmarks/results``): ``one_pass_vs_grid.csv``, ``one_pass_vs_grid.md``,
``one_pass_vs_grid.png``.

Commands
--------
    python benchmarks/one_pass_vs_grid.py                 # 3 data sets x 2 noise rates, seed 2
    python benchmarks/one_pass_vs_grid.py --seeds 0 1 --datasets digits
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.model_selection import GridSearchCV

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _benchlib as B  # noqa: E402
from sklearn_gce import GCEClassifier, GCEClassifierCV  # noqa: E402

QS = (0.3, 0.5, 0.7, 0.9, 1.0)
LOSSES = ("gce", "truncated")
CELLS = [("none", 0.0), ("symmetric", 0.4)]
DATASETS = ["digits", "hpc", "weather"]
METHODS = ["GridSearchCV", "one pass", "ensemble mode", "one pass, shared trunk", "default", "ensemble x8"]
# "one pass, no race" is read from the fit of "ensemble mode" (same seconds)
ORDER = METHODS[:2] + ["one pass, no race"] + METHODS[2:]


def _one_pass(seed, **params):
    return GCEClassifierCV(qs=QS, losses=LOSSES, random_state=seed, **params, cv=None)


# GCEClassifierCV's members are MLPs without GCEClassifier's additive member:
# the fits it is compared with train the same network.
MLP_ALONE = {"module__additive_member": False}


def run_method(method, seed, X_tr, y_tr, X_te, y_te):
    """Fit one method; its row(s): seconds, test accuracy and what it chose."""
    if method == "GridSearchCV":
        est = GridSearchCV(GCEClassifier(random_state=seed, **MLP_ALONE), {"q": list(QS), "loss": list(LOSSES)}, cv=3)
    elif method == "one pass":
        est = _one_pass(seed)
    elif method == "ensemble mode":
        est = _one_pass(seed, ensemble=True)
    elif method == "one pass, shared trunk":
        est = _one_pass(seed, module__shared_blocks=2)
    elif method == "default":
        est = GCEClassifier(random_state=seed, **MLP_ALONE)
    elif method == "ensemble x8":
        est = GCEClassifierCV(qs=(0.8,), losses=("gce",), ensemble_size=8, random_state=seed, cv=None)
    else:
        raise ValueError(method)
    acc, seconds, est = B.fit_score(lambda: est, X_tr, y_tr, X_te, y_te, return_estimator=True)
    row = dict(method=method, seconds=seconds, accuracy=acc)
    if method == "GridSearchCV":
        row["chosen"] = _setting(est.best_params_)
        row["epochs"] = len(est.best_estimator_.history)
        return [row]
    row["epochs"] = len(est.history)
    if not isinstance(est, GCEClassifierCV):
        return [row]
    proba = est.predict_member_proba(X_te)
    member_acc = (proba.argmax(-1) == y_te[:, None]).mean(0)
    size = est.ensemble_size
    setting_acc = (proba.reshape(len(proba), -1, size, proba.shape[-1]).mean(2).argmax(-1)
                   == y_te[:, None]).mean(0)
    row.update(
        chosen=_setting(est.best_params_),
        ensemble=float(np.mean(proba.mean(1).argmax(-1) == y_te)),
        best_member=float(member_acc.max()),
        mean_member=float(member_acc.mean()),
    )
    if len(setting_acc) > 1:
        row["spearman"] = float(spearmanr(est.cv_results_["holdout_score"], setting_acc).statistic)
        row["regret"] = float(setting_acc.max() - setting_acc[est.best_index_])
        row["n_stopped_behind"] = int(est.cv_results_["stopped_behind"].sum())
    if method != "ensemble mode":
        return [row]
    chosen = dict(row, method="one pass, no race", accuracy=float(setting_acc[est.best_index_]))
    return [row, chosen]


def epoch_times(X, y, members=(1, 8, 32), device="cpu", repeats=3):
    """Seconds per training epoch of the default network with k stacked members (and of one ``MLP``).

    The training step of ``GCEClassifierCV`` without skorch around it (batches
    of 128, Adam, the summed members' Lq losses), the best of ``repeats``.
    """
    import torch

    from sklearn_gce import MLP, GCELoss, MemberLoss, MemberMLP

    X = torch.as_tensor(X, dtype=torch.float32, device=device)
    y = torch.as_tensor(y, dtype=torch.long, device=device)

    def one_epoch(net, loss):
        net.set_input_scaling(X)
        opt = torch.optim.Adam(net.parameters())
        best = float("inf")
        for _ in range(repeats + 1):  # the first is a warm-up
            if device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(0, len(X), 128):
                opt.zero_grad()
                loss(net(X[i:i + 128]), y[i:i + 128]).backward()
                opt.step()
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return best

    n_features, n_classes = X.shape[1], int(y.max()) + 1
    rows = [{"network": "MLP (GCEClassifier)", "members": 1,
             "seconds": one_epoch(MLP(n_features, n_classes).to(device), GCELoss(0.8))}]
    for k in members:
        net = MemberMLP(n_features, n_classes, n_members=k).to(device)
        rows.append({"network": "MemberMLP", "members": k,
                     "seconds": one_epoch(net, MemberLoss([("gce", 0.8)] * k).to(device))})
    out = pd.DataFrame(rows)
    out["per member vs one MLP"] = out.seconds / out.members / out.seconds.iloc[0]
    return out


def _setting(params):
    return f"{params['loss']} q={params['q']:g}" if "q" in params else params["loss"]


def report(df, out, wall, epochs=None):
    lines = ["# One pass against a grid search", "",
             "Generated by `python benchmarks/one_pass_vs_grid.py` (see its docstring). Grid: q in "
             f"{list(QS)} x loss in {list(LOSSES)}. Accuracy (%) on clean test labels; seconds of "
             f"wall time per fit on this 2-core CPU, one fit at a time. Wall time of the run: "
             f"{wall / 60:.1f} min.", ""]
    keys = ["dataset", "noise", "rate", "seed"]
    piv_t = df.pivot_table(index=keys, columns="method", values="seconds")
    piv_a = df.pivot_table(index=keys, columns="method", values="accuracy") * 100
    methods = [m for m in ORDER if m in piv_t.columns]
    table = pd.DataFrame(index=piv_t.index)
    for m in methods:
        table[f"{m} (s)"] = piv_t[m].round(1)
        table[f"{m} (%)"] = piv_a[m].round(1)
    lines += ["## Time and accuracy per cell", "", table.to_markdown(), ""]
    summary = []
    if "GridSearchCV" in piv_t:
        for m in methods:
            if m == "GridSearchCV":
                continue
            speed = piv_t["GridSearchCV"] / piv_t[m]
            gap = piv_a[m] - piv_a["GridSearchCV"]
            summary.append({
                "method": m,
                "speed-up over GridSearchCV (geometric mean)": f"{np.exp(np.log(speed).mean()):.1f}x",
                "range": f"{speed.min():.1f}-{speed.max():.1f}x",
                "accuracy - GridSearchCV's choice (mean)": f"{gap.mean():+.2f}",
                "worst cell": f"{gap.min():+.1f}",
            })
        lines += ["## Against GridSearchCV", "", pd.DataFrame(summary).to_markdown(index=False), ""]
    cv = df[df.method.isin(["one pass", "one pass, no race", "ensemble mode", "one pass, shared trunk",
                            "ensemble x8"])].copy()
    if len(cv):
        cols = [c for c in ["chosen", "accuracy", "ensemble", "best_member", "mean_member",
                            "spearman", "regret", "n_stopped_behind"] if c in cv]
        show = cv.set_index(keys + ["method"])[cols].copy()
        for c in ["accuracy", "ensemble", "best_member", "mean_member", "regret"]:
            if c in show:
                show[c] = (show[c] * 100).round(1)
        if "spearman" in show:
            show["spearman"] = show["spearman"].round(2)
        gs = df[df.method == "GridSearchCV"].set_index(keys)["chosen"]
        lines += ["## The one-pass choices", "",
                  "`accuracy`: the chosen setting; `ensemble`: the mean of all members; "
                  "`best_member`: the best member on clean test labels (an oracle); "
                  "`spearman`: rank correlation of the settings' noisy hold-out scores with "
                  "their clean test accuracy; `regret`: oracle setting minus the chosen one "
                  "(points).", "", show.to_markdown(), "",
                  "GridSearchCV's choices: " + "; ".join(f"{'/'.join(map(str, k))}: {v}"
                                                        for k, v in gs.items()), ""]
        ens = cv[cv.method == "ensemble mode"].set_index(keys)
        if len(ens):
            acc = ens.accuracy
            counts = [f"at or above the best single member by clean test accuracy (an oracle) in "
                      f"{int((acc >= ens.best_member - 1e-12).sum())} of {len(ens)} cells"]
            for other in ["one pass, no race", "one pass"]:
                chosen = cv[cv.method == other].set_index(keys).accuracy.reindex(ens.index)
                if chosen.notna().any():
                    counts.append(f"at or above `{other}`'s chosen member in "
                                  f"{int((acc >= chosen - 1e-12).sum())} (mean {100 * (acc - chosen).mean():+.2f} points)")
            lines += ["Ensemble mode: " + "; ".join(counts) + ".", ""]
    if epochs is not None:
        lines += ["## Seconds per epoch with k members", "",
                  "One training epoch over the digits training split (1257 rows, batches of 128), "
                  "the default network; `per member vs one MLP` is the time per member relative to "
                  "one `MLP`. On a CPU the members' arithmetic adds up (the batched products only "
                  "keep the cores busier than one small network does); on a GPU, where one small "
                  "network leaves the device mostly idle, a member should cost a small fraction of "
                  "one.", "",
                  epochs.round(3).to_markdown(index=False), ""]
    with open(os.path.join(out, "one_pass_vs_grid.md"), "w") as f:
        f.write("\n".join(lines))
    return summary


def plot(df, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = df.assign(cell=df.dataset + "\n" + df.noise + " " + df.rate.map("{:g}".format))
    cells = list(dict.fromkeys(df.cell))
    methods = [m for m in ORDER if m in set(df.method)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        sub = df[df.method == m].groupby("cell", sort=False)[["seconds", "accuracy"]].mean().reindex(cells)
        x = np.arange(len(cells)) + (i - (len(methods) - 1) / 2) * width
        axes[0].bar(x, sub.seconds, width, label=m)
        axes[1].bar(x, sub.accuracy * 100, width, label=m)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("fit wall time (s, log)")
    axes[1].set_ylabel("clean test accuracy (%)")
    lo = df.accuracy.min() * 100
    axes[1].set_ylim(max(0, lo - 5), 100)
    for ax in axes:
        ax.set_xticks(np.arange(len(cells)), cells, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "one_pass_vs_grid.png"), dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--seeds", type=int, nargs="*", default=[2],
                    help="seeds of the cells (2: the defaults of the race and the ensemble were chosen on 0 and 1)")
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--device", default="cpu", help="device of the per-epoch timing of k members")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    cells = [(d, n, r, s) for d in args.datasets for n, r in CELLS for s in args.seeds]
    print(f"{len(cells)} cells x {len(args.methods)} methods", flush=True)
    rows, t_start = [], time.perf_counter()
    for i, (dataset, noise, rate, seed) in enumerate(cells):
        ds = B.LOADERS[dataset]()
        X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, seed)
        y_noisy, _ = B.inject(noise, rate, y_tr, seed, ds.n_classes, X=X_tr)
        k = i % len(args.methods)
        for method in args.methods[k:] + args.methods[:k]:  # rotate the order
            for row in run_method(method, seed, X_tr, y_noisy, X_te, y_te):
                rows.append(dict(dataset=dataset, noise=noise, rate=rate, seed=seed, **row))
                print(f"  {dataset} {noise} {rate:g} seed {seed}: {row['method']:<24} {row['seconds']:7.1f}s "
                      f"{row['accuracy'] * 100:5.1f}%  {row.get('chosen', '')}", flush=True)
        pd.DataFrame(rows).to_csv(os.path.join(args.out, "one_pass_vs_grid.csv"), index=False)
    wall = time.perf_counter() - t_start
    digits = B.LOADERS["digits"]()
    X_tr, _, y_tr, _ = B.split_and_preprocess(digits, 0)
    epochs = epoch_times(X_tr, y_tr, device=args.device)
    print("\n" + epochs.round(3).to_markdown(index=False), flush=True)
    df = pd.DataFrame(rows)
    summary = report(df, args.out, wall, epochs)
    plot(df, args.out)
    if summary:
        print("\n" + pd.DataFrame(summary).to_markdown(index=False))
    print(f"\nwall time {wall / 60:.1f} min; results in {args.out}")


if __name__ == "__main__":
    main()
