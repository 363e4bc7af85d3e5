"""
Which training labels are wrong? Out-of-fold label quality in one pass
======================================================================

A fifth of the training labels of scikit-learn's digits are replaced by another
class. ``GCEClassifierCV(cv=5, qs=(0.8,), losses=("gce",))`` trains five cross-fitted networks in one pass
(network ``f`` never sees the rows of fold ``f``), so every training row gets
probabilities from a network that did not train on it. From them come a
label-quality score per row (``label_quality_``), the rows that confident
learning flags as wrong (``label_issues_``, computed by cleanlab) and a ranked
report (``label_report_``). Below: how well the flags find the rows the noise
changed, and the most doubtful training images, with the label they were given
and the one the networks suggest.

Run it from the project root: ``python examples/plot_label_issues.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from sklearn_gce import GCEClassifierCV, LabelNoiseInjector

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
injector = LabelNoiseInjector(noise="symmetric", rate=0.2, random_state=0)
_, y_noisy = injector.fit_resample(X_train, y_train)
flipped = injector.noise_mask_

clf = GCEClassifierCV(cv=5, qs=(0.8,), losses=("gce",), random_state=0).fit(X_train, y_noisy)

found = clf.label_issues_
precision = (found & flipped).sum() / found.sum()
recall = (found & flipped).sum() / flipped.sum()
print(f"{flipped.sum()} of {len(y_noisy)} training labels were changed; "
      f"{found.sum()} rows flagged: precision {precision:.3f}, recall {recall:.3f}.")
print(f"Ranking by label_quality_: average precision {average_precision_score(flipped, -clf.label_quality_):.3f}.")
print(f"The bagged five networks on the clean test labels: {clf.score(X_test, y_test):.3f}.")
print(clf.label_report_.head(8).to_string(index=False))

# %%
# The most doubtful training images
# ---------------------------------
# Each title gives the label the row was given and the out-of-fold suggestion;
# green where the noise really changed the label, red where the given label was
# right (a false alarm, or a digit hard to read).
report = clf.label_report_.head(18)
fig, axes = plt.subplots(3, 6, figsize=(9, 5.4))
for ax, (_, row) in zip(axes.ravel(), report.iterrows()):
    ax.imshow(X_train[row["row"]].reshape(8, 8), cmap="gray_r")
    wrong = flipped[row["row"]]
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
ax.hist(clf.label_quality_[~flipped], bins=bins, alpha=0.6, label="label kept")
ax.hist(clf.label_quality_[flipped], bins=bins, alpha=0.6, label="label changed")
ax.set_xlabel("label_quality_ (out-of-fold probability of the given label)")
ax.set_ylabel("training rows")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()
plt.show()
