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
    t = choose_threshold(y, p, "accuracy", bootstrap=0)
    assert 0.3 < t < 0.9
    assert np.mean((p >= t) == y) == 7 / 8


def test_bagged_threshold_is_steadier_than_the_arg_max():
    # calibrated probabilities: the best cut-off is 0.5; over resampled data sets of 3,000 held-out
    # rows the bagged cut-off (the default) must scatter less around it than the sample's arg max
    rng = np.random.default_rng(3)
    plain, bagged = [], []
    for _ in range(20):
        p = 1 / (1 + np.exp(-rng.normal(-0.6, 2.0, 3000)))
        y = (rng.random(3000) < p).astype(int)
        plain.append(choose_threshold(y, p, "accuracy", bootstrap=0))
        bagged.append(choose_threshold(y, p, "accuracy"))
        assert choose_threshold(y, p, "accuracy") == choose_threshold(y, p, "accuracy")  # seeded
    assert np.sqrt(np.mean((np.array(bagged) - 0.5) ** 2)) < np.sqrt(np.mean((np.array(plain) - 0.5) ** 2))
    assert abs(np.median(bagged) - 0.5) < 0.05
    # a rare outcome nobody should be predicted for: "nobody positive" survives the bagging
    y = (rng.random(3000) < 0.03).astype(int)
    assert choose_threshold(y, rng.random(3000) * 0.1, "accuracy") > 0.09
