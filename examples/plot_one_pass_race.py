"""
Choosing q and the loss in one pass: the race
=============================================

:class:`~sklearn_gce.GCEClassifierCV` trains a whole grid of settings (here
five ``q`` values for the Lq loss and for its truncated variant) as one
network of stacked members, on digits whose training labels are 40% wrong.
Every epoch, each member is scored on the noisy rows held out for early
stopping. A setting that trails the best one and has stopped improving
drops out of the race (``n_iter_no_change_behind=3``): left, each line ends
where its member stopped training, the dot marks the epoch it goes back to.
Right, per setting, what the choice is made on (accuracy on the noisy
hold-out) against what it should pick (accuracy on clean test labels, never
seen in fit): with 126 held-out rows, one row is 0.8 points, so settings
within a point of each other often swap.

Run it from the project root: ``python examples/plot_one_pass_race.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_gce import GCEClassifierCV, LabelNoiseInjector

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
_, y_noisy = LabelNoiseInjector(rate=0.4, random_state=0).fit_resample(X_train, y_train)

clf = GCEClassifierCV(qs=(0.3, 0.5, 0.7, 0.9, 1.0), losses=("gce", "truncated"), random_state=0, cv=None)
clf.fit(X_train, y_noisy)

results = pd.DataFrame({
    "setting": [f"{p['loss']} q={p['q']:g}" for p in clf.cv_results_["params"]],
    "holdout_score": clf.cv_results_["holdout_score"],
    "stopped_behind": clf.cv_results_["stopped_behind"],
    "n_epochs": clf.cv_results_["n_epochs"],
    "best_epoch": clf.cv_results_["best_epoch"].astype(int),
})
member_proba = clf.predict_member_proba(X_test)
results["clean test accuracy"] = (member_proba.argmax(-1) == y_test[:, None]).mean(0)
print(results.round(3).to_string(index=False))
print(f"chosen: {results.setting[clf.best_index_]}, clean test accuracy "
      f"{np.mean(clf.predict(X_test) == y_test):.3f}; {len(clf.history)} epochs in all")

curves = np.array(clf.history[:, "member_valid_acc"])
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
colors = plt.cm.viridis(np.linspace(0, 0.9, 5))
for m, row in results.iterrows():
    style = "-" if row.setting.startswith("gce") else "--"
    epochs = np.arange(1, row.n_epochs + 1)
    width = 2.5 if m == clf.best_index_ else 1.2
    left.plot(epochs, curves[:row.n_epochs, m], style, color=colors[m % 5], lw=width, label=row.setting)
    left.plot(row.best_epoch, curves[row.best_epoch - 1, m], "o", color=colors[m % 5])
left.set_xlabel("epoch")
left.set_ylabel("accuracy on the noisy hold-out")
left.set_title("each setting until it stops (dot: the epoch it keeps)")
left.legend(fontsize=7, ncol=2, loc="lower right")

for m, row in results.iterrows():
    marker = "o" if row.setting.startswith("gce") else "s"
    right.scatter(row.holdout_score, row["clean test accuracy"], marker=marker, color=colors[m % 5],
                  s=90 if m == clf.best_index_ else 35, edgecolor="k" if m == clf.best_index_ else "none")
    right.annotate(row.setting, (row.holdout_score, row["clean test accuracy"]), xytext=(4, 3),
                   textcoords="offset points", fontsize=6)
right.set_xlabel("accuracy on the noisy hold-out (what fit sees)")
right.set_ylabel("accuracy on clean test labels")
right.set_title("the choice (outlined) and what it should pick", fontsize=10)
fig.tight_layout()
plt.show()
