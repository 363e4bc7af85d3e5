"""Forward correction with an estimated transition matrix: the loss, the estimate, the estimator."""

import numpy as np
import pytest
import skorch
import torch

from sklearn_gce import GCEClassifier, LabelNoiseInjector
from sklearn_gce._correction import ForwardCorrectedLoss, estimate_transition_matrix
from sklearn_gce.losses import CrossEntropyLoss, GCELoss, TruncatedGCELoss


def test_forward_correction_is_the_loss_of_the_noisy_label_distribution():
    rng = np.random.RandomState(0)
    logits = torch.tensor(rng.randn(6, 4) * 2, dtype=torch.float32)
    target = torch.tensor(rng.randint(0, 4, 6))
    T = rng.dirichlet(np.ones(4) * 0.5, size=4) * 0.5 + np.eye(4) * 0.5
    p = torch.softmax(logits.double(), -1).numpy()
    q = p @ T
    got = ForwardCorrectedLoss(GCELoss(q=0.7, reduction="none"), T)(logits, target).numpy()
    np.testing.assert_allclose(got, (1 - q[np.arange(6), target] ** 0.7) / 0.7, rtol=1e-5)
    got = ForwardCorrectedLoss(CrossEntropyLoss(reduction="none"), T)(logits, target).numpy()
    np.testing.assert_allclose(got, -np.log(q[np.arange(6), target]), rtol=1e-5)
    # The identity matrix changes nothing.
    base = GCELoss(q=0.7, reduction="none")
    torch.testing.assert_close(ForwardCorrectedLoss(base, np.eye(4))(logits, target), base(logits, target))


def test_forward_correction_is_finite_at_extreme_logits_and_zero_entries():
    T = np.array([[1.0, 0.0], [0.3, 0.7]])
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = ForwardCorrectedLoss(CrossEntropyLoss(), T)(logits.to(torch.bfloat16), torch.tensor([1, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    keep = ForwardCorrectedLoss(TruncatedGCELoss(k=0.5), T).optimal_weight(
        torch.tensor([[5.0, -5.0], [-5.0, 5.0]]), torch.tensor([0, 0])
    )
    assert keep.tolist() == [1.0, 0.0]  # p(label 0 | x) is 0.3 for the second row


def test_the_estimate_recovers_a_known_matrix_from_good_probabilities():
    rng = np.random.RandomState(0)
    true = rng.randint(0, 3, 6000)
    T = np.array([[0.7, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    noisy = np.array([rng.choice(3, p=T[c]) for c in true])
    proba = np.full((6000, 3), 0.1) + np.eye(3)[true] * 0.7
    np.testing.assert_allclose(estimate_transition_matrix(noisy, proba), T, atol=0.03)


@pytest.fixture(scope="module")
def pairflip_digits(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, test = order[:1300], order[1300:]
    injector = LabelNoiseInjector(noise="pairflip", rate=0.4, random_state=0)
    _, y_noisy = injector.fit_resample(X[train], y[train])
    return X[train], y_noisy, injector.transition_matrix_, X[test], y[test]


def test_forward_correction_estimates_the_noise_and_beats_class_dependent_flips(pairflip_digits):
    X, y_noisy, T, X_test, y_test = pairflip_digits
    gains = []
    # Over three seeds: one fit's gain depends on the thread count's rounding
    # (seed 0 gains 4.6 points on two threads and loses 4.6 on one).
    for seed in range(3):
        plain = GCEClassifier(noise_correction=None, max_epochs=60, random_state=seed).fit(X, y_noisy)
        corrected = GCEClassifier(noise_correction="forward", max_epochs=60, random_state=seed).fit(X, y_noisy)
        estimate = corrected.transition_matrix_
        assert estimate.shape == (10, 10)
        np.testing.assert_allclose(estimate.sum(1), 1, atol=1e-6)
        assert np.abs(estimate - T).mean() < 0.08
        assert not hasattr(plain, "transition_matrix_")
        gains.append(corrected.score(X_test, y_test) - plain.score(X_test, y_test))
    assert np.mean(gains) > 0.03


def test_forward_correction_composes_with_the_truncated_loss_and_refuses_partial_fit_first(digits):
    X, y = digits
    clf = GCEClassifier(loss="truncated", noise_correction="forward", prune_start=2, max_epochs=4, random_state=0)
    clf.fit(X[:600], y[:600])
    assert clf.pruned_rows_.shape == (600,) and isinstance(clf.criterion_, ForwardCorrectedLoss)
    clf.partial_fit(X[600:700], y[600:700])  # keeps the estimate of fit
    with pytest.raises(ValueError, match="call fit once before partial_fit"):
        GCEClassifier(noise_correction="forward").partial_fit(X[:100], y[:100], classes=np.arange(10))


def test_directed_flip_rate_closed_forms():
    from sklearn_gce import (directed_flip_rate, mapping_transition_matrix, pairflip_transition_matrix,
                             symmetric_transition_matrix)

    for K in (3, 5, 10):
        for rate in (0.1, 0.4):
            assert directed_flip_rate(np.eye(K)) == 0
            assert directed_flip_rate(symmetric_transition_matrix(K, rate)) == pytest.approx(0, abs=1e-12)
            assert directed_flip_rate(pairflip_transition_matrix(K, rate)) == pytest.approx(rate * (K - 2) / (K - 1))
    # a mapping that moves only classes 0 and 1: their rows count, the others add 0
    T = mapping_transition_matrix(np.arange(4), {0: 1, 1: 0}, 0.4)
    assert directed_flip_rate(T) == pytest.approx(2 * 0.4 * (2 / 3) / 4)
    assert directed_flip_rate(np.array([[0.6, 0.4], [0.1, 0.9]])) == 0  # two classes: nowhere else to go
    with pytest.raises(ValueError, match="square"):
        directed_flip_rate(np.ones((2, 3)))


def _fitted_params(est):
    return [p.detach().clone() for p in est.module_.parameters()]


@pytest.fixture(scope="module")
def pairflip_blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=1600, centers=5, n_features=4, cluster_std=1.0, random_state=0)
    X = X.astype(np.float32)
    injector = LabelNoiseInjector(noise="pairflip", rate=0.4, random_state=0)
    _, y_noisy = injector.fit_resample(X[:1200], y[:1200])
    return X[:1200], y_noisy, injector.transition_matrix_, X[1200:], y[1200:]


def test_auto_correction_finds_directed_noise_where_the_classes_are_learnable(pairflip_blobs, capsys):
    from sklearn_gce import directed_flip_rate

    X, y_noisy, T, X_test, y_test = pairflip_blobs
    auto = GCEClassifier(max_epochs=30, random_state=0, verbose=1).fit(X, y_noisy)  # 'auto' is the default
    assert "training again with forward correction" in capsys.readouterr().out
    assert directed_flip_rate(T) == pytest.approx(0.3)
    assert directed_flip_rate(auto.transition_matrix_) > 0.2
    assert auto.noise_correction_ == "forward" and isinstance(auto.criterion_, ForwardCorrectedLoss)
    plain = GCEClassifier(noise_correction=None, max_epochs=30, random_state=0).fit(X, y_noisy)
    assert auto.score(X_test, y_test) > plain.score(X_test, y_test)


def test_auto_correction_predicts_the_mean_of_the_forward_and_the_uncorrected_network(pairflip_digits, monkeypatch):
    import pickle

    import sklearn_gce._correction as module
    from sklearn_gce._correction import MeanWithUncorrected

    monkeypatch.setattr(module, "AUTO_RULE", (0.0, None))  # always corrects: the decision is tested elsewhere
    X, y_noisy, _, X_test, _ = pairflip_digits
    auto = GCEClassifier(noise_correction="auto", max_epochs=25, random_state=0, warm_start=True).fit(X, y_noisy)
    forward = GCEClassifier(noise_correction="forward", max_epochs=25, random_state=0).fit(X, y_noisy)
    plain = GCEClassifier(noise_correction=None, max_epochs=25, random_state=0).fit(X, y_noisy)
    assert auto.noise_correction_ == forward.noise_correction_ == "forward"
    assert isinstance(auto.criterion_, ForwardCorrectedLoss) and isinstance(auto.module_, MeanWithUncorrected)
    np.testing.assert_array_equal(auto.transition_matrix_, forward.transition_matrix_)
    # the same two networks: forward's corrected one, and the first one, which is the uncorrected fit
    mean = (forward.predict_proba(X_test) + plain.predict_proba(X_test)) / 2
    np.testing.assert_allclose(auto.predict_proba(X_test), mean, atol=1e-5)
    assert not any(p.requires_grad for p in auto.module_.uncorrected.parameters())
    np.testing.assert_allclose(pickle.loads(pickle.dumps(auto)).predict_proba(X_test), mean, atol=1e-5)
    # a call that fails while training leaves the mean as it was
    with monkeypatch.context() as m:
        m.setattr(skorch.NeuralNet, "partial_fit", lambda *args, **kwargs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            auto.partial_fit(X[:100], y_noisy[:100])
    assert isinstance(auto.module_, MeanWithUncorrected)
    # training on continues the corrected network alone
    auto.set_params(max_epochs=1).fit(X, y_noisy)
    assert not isinstance(auto.module_, MeanWithUncorrected) and auto.noise_correction_ == "forward"
    assert isinstance(auto.criterion_, ForwardCorrectedLoss)
    auto.partial_fit(X[:100], y_noisy[:100])
    assert np.isfinite(auto.predict_proba(X_test)).all()


def test_auto_correction_keeps_the_first_network_under_symmetric_noise(digits):
    from sklearn_gce import directed_flip_rate

    X, y = digits
    _, y_noisy = LabelNoiseInjector(noise="symmetric", rate=0.4, random_state=0).fit_resample(X[:1300], y[:1300])
    auto = GCEClassifier(noise_correction="auto", max_epochs=25, random_state=0).fit(X[:1300], y_noisy)
    plain = GCEClassifier(max_epochs=25, random_state=0).fit(X[:1300], y_noisy)
    assert auto.noise_correction_ is None and plain.noise_correction_ is None
    assert directed_flip_rate(auto.transition_matrix_) <= 0.05  # the estimate is kept, and says why
    assert not isinstance(auto.criterion_, ForwardCorrectedLoss)
    assert len(auto.history_) == len(plain.history_)  # trained once
    np.testing.assert_allclose(auto.predict_proba(X[1300:]), plain.predict_proba(X[1300:]), atol=1e-6)


def test_auto_correction_without_enough_labels_per_class_or_an_earlier_fit(digits):
    X, y = digits
    few = GCEClassifier(noise_correction="auto", max_epochs=2, random_state=0).fit(X[:60], y[:60])
    assert few.noise_correction_ is None and not hasattr(few, "transition_matrix_")
    # partial_fit first: nothing to estimate from yet, so no correction (and no error, unlike 'forward')
    clf = GCEClassifier(noise_correction="auto", max_epochs=1, random_state=0)
    clf.partial_fit(X[:200], y[:200], classes=np.arange(10))
    assert clf.noise_correction_ is None and not isinstance(clf.criterion_, ForwardCorrectedLoss)


def test_warm_start_keeps_the_decision_and_switching_to_forward_corrects(pairflip_digits, monkeypatch):
    import sklearn_gce._correction as module

    X, y_noisy, _, _, _ = pairflip_digits
    clf = GCEClassifier(noise_correction="auto", max_epochs=3, random_state=0, warm_start=True)
    with monkeypatch.context() as m:
        m.setattr(module, "AUTO_RULE", (1.0, None))  # 'auto' decides against correcting
        clf.fit(X, y_noisy)
    decided, matrix = clf.noise_correction_, clf.transition_matrix_.copy()
    assert decided is None
    clf.fit(X, y_noisy)  # warm: neither estimated again nor re-decided
    assert clf.noise_correction_ == decided
    np.testing.assert_array_equal(clf.transition_matrix_, matrix)
    clf.set_params(noise_correction="forward").fit(X, y_noisy)
    assert clf.noise_correction_ == "forward" and isinstance(clf.criterion_, ForwardCorrectedLoss)
    clf.set_params(noise_correction=None).fit(X, y_noisy)  # and back: no matrix, no correction
    assert clf.noise_correction_ is None and not hasattr(clf, "transition_matrix_")
    assert not isinstance(clf.criterion_, ForwardCorrectedLoss)


def test_forward_after_an_uncorrected_fit_corrects_and_partial_fit_follows_the_parameter(digits):
    X, y = digits
    clf = GCEClassifier(noise_correction=None, max_epochs=2, warm_start=True, random_state=0).fit(X[:600], y[:600])
    clf.set_params(noise_correction="forward").fit(X[:600], y[:600])  # no matrix yet: estimate, then correct
    assert clf.noise_correction_ == "forward" and isinstance(clf.criterion_, ForwardCorrectedLoss)
    clf.set_params(noise_correction=None).partial_fit(X[600:700], y[600:700])
    assert clf.noise_correction_ is None and not isinstance(clf.criterion_, ForwardCorrectedLoss)
    clf.set_params(noise_correction="forward").partial_fit(X[600:700], y[600:700])  # the matrix of fit
    assert clf.noise_correction_ == "forward" and isinstance(clf.criterion_, ForwardCorrectedLoss)


def test_the_one_pass_grid_corrects_directed_noise_from_out_of_fold_probabilities(pairflip_digits):
    from sklearn_gce import GCEClassifierCV, directed_flip_rate
    from sklearn_gce._correction import MeanWithUncorrected

    X, y_noisy, T, X_test, y_test = pairflip_digits
    params = dict(qs=(0.9,), losses=("gce",), max_epochs=15, random_state=0, cv=3, tree_members=None)
    auto = GCEClassifierCV(**params).fit(X, y_noisy)  # 'auto' is the default here too
    plain = GCEClassifierCV(noise_correction=None, **params).fit(X, y_noisy)
    # estimated from members that never trained on the rows: the direction is found
    assert directed_flip_rate(auto.transition_matrix_) > 0.2
    assert np.abs(auto.transition_matrix_ - T).mean() < 0.05
    assert auto.noise_correction_ == "forward" and isinstance(auto.module_, MeanWithUncorrected)
    assert isinstance(auto.criterion_, ForwardCorrectedLoss) and not hasattr(plain, "transition_matrix_")
    # the choice was made again, on the mean of both passes, and predicts with it
    members = auto.predict_member_proba(X_test)
    np.testing.assert_allclose(auto.predict_proba(X_test), members[:, auto.predicting_members_].mean(1), atol=1e-6)
    # one seed's gain swings with rounding (seed 0: +4.8 points with Adam unfused, +2.2 fused); over
    # three seeds +6.9 (fused) and +6.5 (unfused)
    gains = [auto.score(X_test, y_test) - plain.score(X_test, y_test)]
    for seed in (1, 2):
        params["random_state"] = seed
        gains.append(GCEClassifierCV(**params).fit(X, y_noisy).score(X_test, y_test)
                     - GCEClassifierCV(noise_correction=None, **params).fit(X, y_noisy).score(X_test, y_test))
    assert np.mean(gains) > 0.03 and min(gains) > 0


def test_forward_correction_of_the_one_pass_grid_without_folds(pairflip_digits):
    from sklearn_gce import GCEClassifierCV

    X, y_noisy, _, X_test, _ = pairflip_digits
    clf = GCEClassifierCV(qs=(0.7,), losses=("gce", "truncated"), noise_correction="forward", max_epochs=8,
                          prune_start=3, prune_every=3, random_state=0, cv=None).fit(X, y_noisy)
    assert clf.noise_correction_ == "forward" and isinstance(clf.criterion_, ForwardCorrectedLoss)
    assert clf.transition_matrix_.shape == (10, 10) and clf.member_label_issues_.shape == (len(X), 2)
    members = clf.predict_member_proba(X_test)
    np.testing.assert_allclose(clf.predict_proba(X_test), members[:, clf.predicting_members_].mean(1), atol=1e-6)


def test_the_one_pass_drops_a_correction_that_predicts_the_given_out_of_fold_labels_worse(digits, monkeypatch, capsys):
    import pickle

    from sklearn_gce import GCEClassifierCV, directed_flip_rate
    from sklearn_gce._correction import MeanWithUncorrected, NoiseCorrection

    X, y = digits
    X, y, X_test = X[:900], y[:900], X[900:1100]
    shift = np.roll(np.eye(10), 1, axis=1) * 0.9 + np.eye(10) * 0.1  # class i labelled i + 1: a wrong estimate

    def wrong_estimate(self, targets, proba):
        self.transition_matrix, self.rate = shift, directed_flip_rate(shift)
        return shift

    monkeypatch.setattr(NoiseCorrection, "estimate", wrong_estimate)
    params = dict(qs=(0.8,), losses=("gce",), max_epochs=6, random_state=0, cv=3)
    auto = GCEClassifierCV(verbose=1, **params).fit(X, y)
    out = capsys.readouterr().out
    assert "training again with forward correction" in out and "the correction dropped" in out
    plain = GCEClassifierCV(noise_correction=None, **params).fit(X, y)
    # the first pass's fit, restored whole: the flags, the prediction, the history
    assert auto.noise_correction_ is None and not isinstance(auto.module_, MeanWithUncorrected)
    assert not isinstance(auto.criterion_, ForwardCorrectedLoss)
    np.testing.assert_array_equal(auto.transition_matrix_, shift)  # kept, for a look
    np.testing.assert_allclose(auto.oof_proba_, plain.oof_proba_, atol=1e-6)
    np.testing.assert_array_equal(auto.label_issues_, plain.label_issues_)
    np.testing.assert_allclose(auto.predict_proba(X_test), plain.predict_proba(X_test), atol=1e-6)
    np.testing.assert_allclose(auto.history_[:, "member_valid_loss"], plain.history_[:, "member_valid_loss"],
                               atol=1e-6)
    assert auto.cv_results_["n_epochs"] == plain.cv_results_["n_epochs"]
    # the first pass's optimiser state comes back with it (a warm fit goes on from its Adam moments)
    state, plain_state = auto.optimizer_.state_dict()["state"], plain.optimizer_.state_dict()["state"]
    assert len(state) == len(plain_state) > 0
    for key in plain_state:
        torch.testing.assert_close(state[key]["exp_avg"], plain_state[key]["exp_avg"], atol=1e-6, rtol=0)
    assert all(p.requires_grad for p in auto.module_.parameters())
    np.testing.assert_allclose(pickle.loads(pickle.dumps(auto)).predict_proba(X_test), plain.predict_proba(X_test),
                               atol=1e-6)
    # a warm fit trains the restored network on (the optimiser holds its weights), uncorrected
    before = [p.detach().clone() for p in auto.module_.parameters()]
    auto.set_params(warm_start=True, max_epochs=1).fit(X, y)
    assert auto.noise_correction_ is None and not isinstance(auto.criterion_, ForwardCorrectedLoss)
    assert max((p - b).abs().max() for p, b in zip(auto.module_.parameters(), before)) > 1e-4


def test_the_correction_is_confirmed_by_mcnemar_on_the_given_labels():
    from sklearn_gce._correction import CROSS_FITTED_RULE, NoiseCorrection, mcnemar_z

    labels = np.repeat(np.arange(3), 100)
    right, wrong = np.eye(3)[labels], np.eye(3)[(labels + 1) % 3]

    def mean_wrong_on(lost, gained_back=0):
        # the mean is wrong on the first `lost` rows where the first network is right, and right on
        # `gained_back` rows where the first network is wrong
        first = right.copy()
        first[lost:lost + gained_back] = wrong[lost:lost + gained_back]
        mean = right.copy()
        mean[:lost] = wrong[:lost]
        return first, mean

    auto = NoiseCorrection("auto", CROSS_FITTED_RULE)  # the cross-fitted bag's check
    assert auto.checks
    # z = (gained - lost) / sqrt(gained + lost): 2 lost -> -1.41 (kept), 3 lost -> -1.73 (dropped)
    assert auto.confirmed(labels, *mean_wrong_on(2)) and auto.z == pytest.approx(-2 / np.sqrt(2))
    assert not auto.confirmed(labels, *mean_wrong_on(3)) and auto.z == pytest.approx(-3 / np.sqrt(3))
    assert auto.confirmed(labels, *mean_wrong_on(10, 8))  # 8 gained, 10 lost: -0.47
    assert auto.confirmed(labels, right, right) and auto.z == 0.0  # no disagreement
    assert mcnemar_z(labels, *mean_wrong_on(0, 9)) == pytest.approx(3.0)  # 9 gained: 9 / 3
    assert NoiseCorrection("forward").confirmed(labels, right, wrong)  # 'forward' always corrects
    assert not NoiseCorrection("auto").checks  # GCEClassifier's rule: the rate alone


def test_auto_corrects_above_a_directed_flip_rate_of_five_hundredths():
    from sklearn_gce._correction import AUTO_RULE, NoiseCorrection

    assert AUTO_RULE == (0.05, None)
    auto = NoiseCorrection("auto")
    for rate, corrects in [(0.03, False), (0.05, False), (0.06, True), (0.15, True)]:
        auto.rate = rate
        assert auto.corrects() is corrects
    assert NoiseCorrection("forward").corrects()


@pytest.mark.parametrize("noise, corrects", [("mapping", True), ("symmetric", False)])
def test_auto_decides_with_a_margin_under_directed_and_symmetric_noise(digits, noise, corrects):
    # Issue 40: under class-mapping noise the estimated directed flip rate sat at 0.3's threshold (0.15), so
    # whether 'auto' corrected flipped with the machine. Each family's estimate now lies well clear of 0.05.
    from sklearn_gce import directed_flip_rate

    X, y = digits
    mapping = {a: b for a, b in [(0, 6), (1, 7), (2, 8), (3, 9), (4, 5)]}
    mapping.update({b: a for a, b in list(mapping.items())})
    kwargs = {"mapping": mapping} if noise == "mapping" else {}
    _, y_noisy = LabelNoiseInjector(noise=noise, rate=0.4, random_state=0, **kwargs).fit_resample(X, y)
    auto = GCEClassifier(max_epochs=30, random_state=0).fit(X, y_noisy)
    assert (auto.noise_correction_ == "forward") is corrects
    rate = directed_flip_rate(auto.transition_matrix_)
    assert rate > 0.05 + 0.02 if corrects else rate < 0.05 - 0.02  # a margin another machine will not cross
