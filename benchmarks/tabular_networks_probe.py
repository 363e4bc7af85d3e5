"""One-off (issue 42): which external tabular network can be a careful peer on this CPU?

Fits pytabkit's RealMLP_TD_Classifier and TabM_D_Classifier (their tuned
defaults, one thread) and LightGBM stopped early on one table, seed 0,
clean labels, with the benchmark's split and preprocessing; prints the fit
seconds and clean-test accuracy.  ``python benchmarks/tabular_networks_probe.py storms``
"""
import sys
import time
import warnings

import numpy as np

import _benchlib as B

B.limit_threads(1)
warnings.simplefilter("ignore")
from pytabkit import RealMLP_TD_Classifier, TabM_D_Classifier  # noqa: E402

name = sys.argv[1]
ds = B.load(name)
X_tr, X_te, y_tr, y_te = B.split_and_preprocess(ds, 0)
print(name, X_tr.shape, ds.n_classes, flush=True)
for cls in (RealMLP_TD_Classifier, TabM_D_Classifier):
    t = time.perf_counter()
    m = cls(random_state=0, n_threads=1, device="cpu", verbosity=0).fit(X_tr, y_tr)
    print(cls.__name__, f"{time.perf_counter() - t:.1f}s acc={np.mean(m.predict(X_te) == y_te):.4f}", flush=True)
t = time.perf_counter()
m = B.LightGBMES(random_state=0).fit(X_tr, y_tr)
print("LightGBM", f"{time.perf_counter() - t:.1f}s acc={np.mean(m.predict(X_te) == y_te):.4f}")
