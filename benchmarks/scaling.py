"""Grid search on a Dask cluster: wall time on 1 and 2 workers, and agreement with a serial run.

What it measures
----------------
One ``GridSearchCV`` of 12 candidates (``q`` in 0.3, 0.5, 0.7, 0.8, 0.9, 1.0
times ``loss`` in gce, truncated), 3 folds, over an imblearn pipeline
``LabelNoiseInjector(symmetric, 40%) -> GCEClassifier`` on scikit-learn's
digits, run in four ways, one after the other on the same machine:

- ``serial, 1 thread``: ``n_jobs=1`` with ``torch.set_num_threads(1)``, the
  reference;
- ``serial, N threads``: ``n_jobs=1`` with torch's default thread count;
- ``dask, 1 worker`` and ``dask, 2 workers``: ``joblib.parallel_backend("dask")``
  on a ``dask.distributed.LocalCluster`` of single-threaded worker processes.

For each: wall time of ``search.fit`` (cluster start excluded), its ratio to
the reference, the largest difference of any candidate's mean test score from
the reference, and whether ``best_params_`` agree. Dask's workers run torch on
one thread, so they reproduce the 1-thread reference exactly; torch's default
thread count sums in another order. Last, whether two single-threaded worker
processes really run side by side on this machine: one fit alone on a worker,
then two at once, one per worker.

Outputs ``<out>/scaling.md`` and ``scaling.csv``, and prints the table. Run it
on a quiet machine: the timings are the point.

Command
-------
    python benchmarks/scaling.py            # about 8 minutes on 2 cores
    python benchmarks/scaling.py --quick    # 4 candidates, 2 folds, few epochs
"""

import argparse
import os
import sys
import time

import joblib
import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from imblearn.pipeline import make_pipeline  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from sklearn_gce import GCEClassifier, LabelNoiseInjector  # noqa: E402


def make_search(qs, cv, max_epochs):
    pipe = make_pipeline(
        LabelNoiseInjector(noise="symmetric", rate=0.4, random_state=0),
        GCEClassifier(max_epochs=max_epochs, random_state=0),
    )
    grid = {"gceclassifier__q": qs, "gceclassifier__loss": ["gce", "truncated"]}
    return GridSearchCV(pipe, grid, cv=cv, n_jobs=-1)


def one_fit_seconds(seed, epochs):
    """Wall time of one GCEClassifier fit on digits (no early stopping), in this process."""
    X, y = load_digits(return_X_y=True)
    start = time.perf_counter()
    GCEClassifier(max_epochs=epochs, early_stopping=False, random_state=seed).fit(X, y)
    return time.perf_counter() - start


def timed_fit(search, X, y, backend):
    start = time.perf_counter()
    with joblib.parallel_backend(backend):
        search.fit(X, y)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    qs = [0.5, 0.9] if args.quick else [0.3, 0.5, 0.7, 0.8, 0.9, 1.0]
    cv, max_epochs = (2, 5) if args.quick else (3, 100)
    X, y = load_digits(return_X_y=True)
    default_threads = torch.get_num_threads()
    rows, searches = [], {}
    contention = (float("nan"), float("nan"))
    t_run = time.perf_counter()

    def record(name, seconds, search):
        searches[name] = search
        rows.append({"run": name, "seconds": seconds})
        print(f"  {name:<20} {seconds:7.1f} s   best {search.best_params_}", flush=True)

    torch.set_num_threads(1)
    search = make_search(qs, cv, max_epochs)
    record("serial, 1 thread", timed_fit(search, X, y, "sequential"), search)
    torch.set_num_threads(default_threads)
    search = make_search(qs, cv, max_epochs)
    record(f"serial, {default_threads} threads", timed_fit(search, X, y, "sequential"), search)
    torch.set_num_threads(1)
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            search = make_search(qs, cv, max_epochs)
            name = f"dask, {n_workers} worker" + ("s" if n_workers > 1 else "")
            record(name, timed_fit(search, X, y, "dask"), search)
            if n_workers == 2:
                # Do two single-threaded processes really run side by side here?
                epochs = 5 if args.quick else 20
                workers = list(client.scheduler_info()["workers"])
                alone = client.submit(one_fit_seconds, 0, epochs, workers=workers[:1], pure=False).result()
                pair = client.gather([client.submit(one_fit_seconds, s, epochs, workers=[w], pure=False)
                                      for s, w in zip((1, 2), workers)])
                contention = (alone, float(np.mean(pair)))
    torch.set_num_threads(default_threads)

    ref = searches["serial, 1 thread"]
    ref_scores = ref.cv_results_["mean_test_score"]
    for row in rows:
        search = searches[row["run"]]
        row["ratio to serial 1 thread"] = row["seconds"] / rows[0]["seconds"]
        row["max |score - ref|"] = float(np.max(np.abs(search.cv_results_["mean_test_score"] - ref_scores)))
        row["same best_params_"] = search.best_params_ == ref.best_params_
        row["best score"] = search.best_score_
    table = pd.DataFrame(rows)
    n_candidates = len(ref.cv_results_["params"])
    header = (
        f"# Grid search on a Dask cluster\n\nGenerated by `python benchmarks/scaling.py"
        f"{' --quick' if args.quick else ''}` (see its docstring). {n_candidates} candidates x {cv} folds "
        f"+ refit, digits with 40% symmetric label noise on the training folds, "
        f"{os.cpu_count()} cores. Run took {(time.perf_counter() - t_run) / 60:.1f} min.\n\n"
    )
    alone, side_by_side = contention
    footer = (
        f"\nOne fit alone on a worker took {alone:.2f} s; two fits at once, one per worker, "
        f"{side_by_side:.2f} s each ({side_by_side / alone:.2f}x): the speed-up two workers "
        f"can give on this machine is at most {2 * alone / side_by_side:.2f}x.\n"
    )
    os.makedirs(args.out, exist_ok=True)
    table.to_csv(os.path.join(args.out, "scaling.csv"), index=False)
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write(header + table.to_markdown(index=False, floatfmt=".4g") + "\n" + footer)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    print(footer)


if __name__ == "__main__":
    main()
