"""Model selection on noisy labels: noise at fit time only, scoring on clean labels."""

import numpy as np
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_gce import GCEClassifier, LabelNoiseInjector


def test_grid_search_prefers_a_robust_loss_at_40_percent_noise(digits):
    X, y = digits
    X, y = X[:900], y[:900]
    pipe = make_pipeline(
        LabelNoiseInjector(noise="symmetric", rate=0.4, random_state=0),
        # A fixed training length and the plain MLP (pixels need no numeric
        # embedding), so that the loss alone makes the difference.
        GCEClassifier(max_epochs=30, early_stopping=False, module__numeric_embedding=None,
                      random_state=0),
    )
    grid = {
        "gceclassifier__loss": ["ce", "gce"],
        "gceclassifier__q": [0.4, 0.8],
    }
    search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=2)
    search.fit(X, y)
    results = search.cv_results_
    ce = [s for p, s in zip(results["params"], results["mean_test_score"]) if p["gceclassifier__loss"] == "ce"]
    assert search.best_params_["gceclassifier__loss"] == "gce"
    # Scored on clean held-out labels: far above the 60% a noisy scorer would cap at.
    assert search.best_score_ > 0.75
    assert search.best_score_ > max(ce) + 0.03
    # The refitted pipeline's noise step saw 40% noise on the whole training set.
    injector = search.best_estimator_.named_steps["labelnoiseinjector"]
    assert abs(injector.noise_rate_ - 0.4) < 0.06
    assert np.mean(search.predict(X) == y) > 0.8
