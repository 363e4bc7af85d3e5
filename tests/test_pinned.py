"""Predictions of a pinned set of fits are exactly those recorded (see ``tests/pinned_fits.py``)."""

import numpy as np
import pytest

from pinned_fits import PATH, fits, predictions

RECORDED = np.load(PATH, allow_pickle=False)
FITS = fits()


@pytest.mark.parametrize("name", sorted(FITS))
def test_predictions_are_bit_identical_to_the_recorded_ones(name):
    got = predictions(*FITS[name])
    keys = sorted(key.split("/", 1)[1] for key in RECORDED.files if key.startswith(name + "/"))
    assert sorted(got) == keys
    for key in keys:
        np.testing.assert_array_equal(got[key], RECORDED[f"{name}/{key}"], err_msg=f"{name}/{key}")
