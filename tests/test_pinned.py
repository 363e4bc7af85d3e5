"""Predictions of a pinned set of fits are those recorded (see ``tests/pinned_fits.py``).

Bit-identical on a machine that computes as the recording one did (same
numerics fingerprint); elsewhere, the same predictions up to the rounding
that training amplifies: on a processor unlike the recording one, the pinned
fits' test probabilities moved by at most 0.19 (by 0.015 or less on average), their
predicted classes agreed on 99% of the rows or more, their flags on 99.4%,
the hold-out scores within 0.02.
"""

import numpy as np
import pytest

from pinned_fits import FINGERPRINT, PATH, fits, numerics_fingerprint, predictions

RECORDED = np.load(PATH, allow_pickle=False)
FITS = fits()
SAME_NUMERICS = FINGERPRINT in RECORDED.files and str(RECORDED[FINGERPRINT]) == numerics_fingerprint()


@pytest.mark.parametrize("name", sorted(FITS))
def test_predictions_are_those_recorded(name):
    got = predictions(*FITS[name])
    keys = sorted(key.split("/", 1)[1] for key in RECORDED.files if key.startswith(name + "/"))
    assert sorted(got) == keys
    for key in keys:
        recorded = RECORDED[f"{name}/{key}"]
        if SAME_NUMERICS:
            np.testing.assert_array_equal(got[key], recorded, err_msg=f"{name}/{key}")
        elif key == "proba":
            assert np.mean(got[key].argmax(1) == recorded.argmax(1)) >= 0.97, name
            assert np.abs(got[key] - recorded).mean() <= 0.03, name
        elif key == "label_issues":
            assert np.mean(got[key] == recorded) >= 0.97, name
        else:  # hold-out scores
            np.testing.assert_allclose(got[key], recorded, atol=0.05, err_msg=f"{name}/{key}")


def test_the_fingerprint_is_the_same_on_every_run():
    # the same machine, twice: the same digest (else the bit-identical branch could never run)
    assert numerics_fingerprint() == numerics_fingerprint()
    assert len(numerics_fingerprint()) == 64
