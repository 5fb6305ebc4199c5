import numpy as np

from leadscore.ml import Calibrator
from leadscore.ml.metrics import choose_threshold, expected_calibration_error


def test_calibration_improves_ece_on_a_miscalibrated_model():
    rng = np.random.default_rng(0)
    n = 6000
    true_logit = rng.normal(-0.5, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    raw = 3.0 * true_logit + 1.0  # over-confident and shifted
    fit, test = slice(0, 4000), slice(4000, None)
    before = expected_calibration_error(y[test], 1 / (1 + np.exp(-raw[test])))
    for method in ("auto", "sigmoid", "isotonic"):
        cal = Calibrator(method).fit(raw[fit], y[fit])
        p = cal.transform(raw[test])
        after = expected_calibration_error(y[test], p)
        assert after < before / 3, (method, before, after)
        assert np.all(np.diff(cal.transform(np.sort(raw))) >= 0)  # monotone: ranking unchanged
    assert Calibrator("auto").fit(raw[fit], y[fit]).method_ in {"sigmoid", "isotonic"}


def test_threshold_maximises_accuracy():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.65, 0.9])
    t = choose_threshold(y, p, "accuracy")
    assert 0.3 < t < 0.9
    assert np.mean((p >= t) == y) == 7 / 8
