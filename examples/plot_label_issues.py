"""
Which training labels are wrong? Out-of-fold label quality in one pass
======================================================================

A fifth of the training labels of scikit-learn's digits are replaced by another
class. :func:`~sklearn_gce.find_label_issues` fits
``GCEClassifierCV(cv=5, qs=(0.8,), losses=("gce",))``, five cross-fitted
networks trained in one pass (network ``f`` never sees the rows of fold
``f``), so every training row gets probabilities from a network that did not
train on it. From them come a label-quality score per row, the rows that
confident learning flags as wrong (computed by cleanlab), and the report,
worst first. Below: how well the flags find the rows the noise changed, and the
most doubtful training images, with the label they were given and the one the
networks suggest.

Run it from the project root: ``python examples/plot_label_issues.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from sklearn_gce import LabelNoiseInjector, find_label_issues

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
injector = LabelNoiseInjector(noise="symmetric", rate=0.2, random_state=0)
_, y_noisy = injector.fit_resample(X_train, y_train)
flipped = injector.noise_mask_

report, clf = find_label_issues(X_train, y_noisy, random_state=0, return_estimator=True)
by_row = report.sort_index()          # indexed by row position: back in the order of X_train
found = by_row["is_label_issue"].to_numpy()
quality = by_row["label_quality"].to_numpy()
precision = (found & flipped).sum() / found.sum()
recall = (found & flipped).sum() / flipped.sum()
print(f"{flipped.sum()} of {len(y_noisy)} training labels were changed; "
      f"{found.sum()} rows flagged: precision {precision:.3f}, recall {recall:.3f}.")
print(f"Ranking by label_quality: average precision {average_precision_score(flipped, -quality):.3f}.")
print(f"The bagged five networks on the clean test labels: {clf.score(X_test, y_test):.3f}.")
print(report.head(8))

# %%
# The most doubtful training images
# ---------------------------------
# Each title gives the label the row was given and the out-of-fold suggestion;
# green where the noise really changed the label, red where the given label was
# right (a false alarm, or a digit hard to read).
fig, axes = plt.subplots(3, 6, figsize=(9, 5.4))
for ax, (position, row) in zip(axes.ravel(), report.head(18).iterrows()):
    ax.imshow(X_train[position].reshape(8, 8), cmap="gray_r")
    wrong = flipped[position]
    ax.set_title(f"given {row['given_label']}, says {row['suggested_label']}\nquality {row['label_quality']:.3f}",
                 fontsize=8, color="tab:green" if wrong else "tab:red")
    ax.axis("off")
fig.suptitle("Lowest label quality first (green: the label had been changed)")
fig.tight_layout()
plt.show()

# %%
# Label quality separates the changed rows
# ----------------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.linspace(0, 1, 41)
ax.hist(quality[~flipped], bins=bins, alpha=0.6, label="label kept")
ax.hist(quality[flipped], bins=bins, alpha=0.6, label="label changed")
ax.set_xlabel("label_quality (out-of-fold probability of the given label)")
ax.set_ylabel("training rows")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()
plt.show()
