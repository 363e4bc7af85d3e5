"""scikit-learn's common estimator checks on GCEClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gce import GCEClassifier, GCEClassifierCV

EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ sets history_, initialized_ and "
        "virtual_params_, and stores skorch defaults such as "
        "iterator_train__shuffle as attributes."
    ),
    "check_set_params": (
        "skorch's get_params exposes its private _params_to_validate set; "
        "setting it to an arbitrary value breaks skorch's set_params."
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "Mini-batch stochastic training: integer weights and repeated rows give "
        "different batches and a different number of optimisation steps, so "
        "the fits agree only in expectation (scikit-learn marks SGD and MLP "
        "estimators the same way)."
    ),
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    # Enough epochs and a seed for the accuracy threshold of
    # check_classifiers_train; everything else is the default.
    [GCEClassifier(max_epochs=20, random_state=0),
     GCEClassifierCV(qs=(0.7, 1.0), losses=("gce",), max_epochs=20, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
