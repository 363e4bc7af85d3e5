"""
Choosing q by grid search on noisy labels
=========================================

How robust should the loss be? ``q`` trades the fast fitting of cross entropy
(``q -> 0``) against the robustness of MAE (``q = 1``). Here
:class:`~sklearn.model_selection.GridSearchCV` tunes it through an
imbalanced-learn pipeline: the :class:`~sklearn_gce.LabelNoiseInjector` step
corrupts the labels of each training fold only, so every candidate is trained
on noisy labels and scored on the clean held-out ones. Cross entropy is in
the same grid as a baseline. One line per noise rate. (On real noisy labels,
where no clean label is at hand, :class:`~sklearn_gce.GCEClassifierCV`
chooses ``q`` in one pass on the given labels instead; see
:ref:`sphx_glr_auto_examples_plot_noisy_table.py`.)

Run it from the project root: ``python examples/plot_grid_search_q.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from imblearn.pipeline import make_pipeline
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_gce import GCEClassifier, LabelNoiseInjector

X, y = load_digits(return_X_y=True)
Q_VALUES = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
RATES = [0.2, 0.4, 0.6]
grid = [
    {"gceclassifier__loss": ["gce"], "gceclassifier__q": Q_VALUES},
    {"gceclassifier__loss": ["ce"]},
]
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

curves, chosen = {}, []
for rate in RATES:
    pipe = make_pipeline(
        LabelNoiseInjector(noise="symmetric", rate=rate, random_state=0),
        GCEClassifier(max_epochs=40, random_state=0),
    )
    search = GridSearchCV(pipe, grid, cv=cv, n_jobs=2).fit(X, y)
    results = pd.DataFrame(search.cv_results_)
    gce = results[results["param_gceclassifier__loss"] == "gce"]
    ce = results[results["param_gceclassifier__loss"] == "ce"]
    curves[rate] = (gce["param_gceclassifier__q"].astype(float), gce["mean_test_score"], ce["mean_test_score"].iloc[0])
    best = search.best_params_
    chosen.append(
        {
            "noise rate": rate,
            "chosen loss": best["gceclassifier__loss"],
            "chosen q": best.get("gceclassifier__q", np.nan),
            "CV clean accuracy": search.best_score_,
            "cross entropy": ce["mean_test_score"].iloc[0],
        }
    )

print(pd.DataFrame(chosen).round(3).to_string(index=False))

# %%
# Cross-validated accuracy on clean labels against q; dashed: cross entropy.
fig, ax = plt.subplots(figsize=(6, 4))
for rate, (q, score, ce_score) in curves.items():
    (line,) = ax.plot(q, score, marker="o", label=f"{rate:.0%} noise")
    ax.axhline(ce_score, linestyle="--", color=line.get_color(), linewidth=1)
ax.set_xlabel("q")
ax.set_ylabel("CV accuracy on clean labels")
ax.set_title("GCE on digits: choosing q (dashed: cross entropy)")
ax.legend()
fig.tight_layout()
plt.show()
