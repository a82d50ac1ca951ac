"""Human-study analytics against values computed by hand on tiny fixtures."""

import math

import numpy as np
import pytest

from debate.analysis.metrics import (
    accuracy_with_ci,
    brier_score,
    cohen_kappa,
    expected_calibration_error,
    krippendorff_alpha_nominal,
    pairwise_kappas,
    reliability_curve,
)

NAN = np.nan


# ------------------------------------------------------------------ accuracy
def test_accuracy_with_wilson_interval():
    # 3 of 4 correct: p = 0.75, n = 4, z = 1.959964, z^2 = 3.841459
    # centre = (p + z^2 / 2n) / (1 + z^2 / n) = (0.75 + 0.480182) / 1.960365 = 0.627527
    # half   = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    #        = 1.959964 * sqrt(0.046875 + 0.060023) / 1.960365 = 0.326885
    # -> [0.300642, 0.954413]
    r = accuracy_with_ci([True, True, False, True])
    assert r["accuracy"] == 0.75 and r["n"] == 4
    assert r["ci_low"] == pytest.approx(0.300642, abs=1e-6)
    assert r["ci_high"] == pytest.approx(0.954413, abs=1e-6)


def test_wilson_interval_at_the_edges():
    # all 10 right: centre = (1 + z^2/20) / (1 + z^2/10) = 1.192073 / 1.384146 = 0.861234,
    # half = z * sqrt(z^2/400) / 1.384146 = 0.192073 / 1.384146 = 0.138766 -> [0.722467, 1]
    r = accuracy_with_ci(np.ones(10, dtype=int))
    assert r["accuracy"] == 1.0
    assert r["ci_low"] == pytest.approx(0.722467, abs=1e-5) and r["ci_high"] == 1.0
    r = accuracy_with_ci([0, 0, 0])
    assert r["accuracy"] == 0.0 and r["ci_low"] == 0.0 and 0.0 < r["ci_high"] < 1.0
    # symmetric: 1/4 right is the mirror image of 3/4 right
    low, high = accuracy_with_ci([1, 0, 0, 0])["ci_low"], accuracy_with_ci([1, 0, 0, 0])["ci_high"]
    assert low == pytest.approx(1 - 0.954413, abs=1e-6) and high == pytest.approx(1 - 0.300642, abs=1e-6)


# ------------------------------------------------------------------ calibration
def test_brier_score():
    # ((1 - 0.9)^2 + (0.2 - 0)^2) / 2 = (0.01 + 0.04) / 2 = 0.025
    assert brier_score([0.9, 0.2], [1, 0]) == pytest.approx(0.025)
    # all one outcome is fine: ((1 - 0.5)^2 + (1 - 1)^2) / 2 = 0.125
    assert brier_score([0.5, 1.0], [True, True]) == pytest.approx(0.125)


PROB = [0.1, 0.4, 0.8, 0.9]
CORRECT = [0, 1, 1, 0]


def test_expected_calibration_error_by_hand():
    # 2 bins: [0, 0.5) holds 0.1, 0.4 (mean conf 0.25, accuracy 1/2); [0.5, 1] holds 0.8, 0.9 (0.85, 1/2)
    # ECE = 2/4 * |0.5 - 0.25| + 2/4 * |0.5 - 0.85| = 0.125 + 0.175 = 0.3
    assert expected_calibration_error(PROB, CORRECT, num_bins=2) == pytest.approx(0.3)
    # 10 bins: one sample each; (|0 - 0.1| + |1 - 0.4| + |1 - 0.8| + |0 - 0.9|) / 4 = 1.8 / 4 = 0.45
    assert expected_calibration_error(PROB, CORRECT) == pytest.approx(0.45)
    # 1 bin: |mean accuracy - mean confidence| = |0.5 - 0.55| = 0.05
    assert expected_calibration_error(PROB, CORRECT, num_bins=1) == pytest.approx(0.05)
    # perfectly calibrated: confidence 0.5, half right
    assert expected_calibration_error([0.5] * 4, [1, 0, 1, 0]) == pytest.approx(0.0)


def test_probability_one_falls_in_the_last_bin():
    # 1.0 and 0.95 share [0.9, 1]: conf 0.975, accuracy 1 -> ECE = 0.025
    assert expected_calibration_error([1.0, 0.95], [1, 1]) == pytest.approx(0.025)
    curve = reliability_curve([1.0, 0.95], [1, 1])
    assert len(curve) == 1 and curve[0]["bin_low"] == pytest.approx(0.9) and curve[0]["bin_high"] == 1.0


def test_reliability_curve_skips_empty_bins():
    curve = reliability_curve(PROB, CORRECT, num_bins=4)
    # bins of width 0.25: [0, .25) {0.1}, [.25, .5) {0.4}, [.5, .75) empty, [.75, 1] {0.8, 0.9}
    assert curve == [
        pytest.approx(dict(bin_low=0.0, bin_high=0.25, mean_confidence=0.1, accuracy=0.0, count=1)),
        pytest.approx(dict(bin_low=0.25, bin_high=0.5, mean_confidence=0.4, accuracy=1.0, count=1)),
        pytest.approx(dict(bin_low=0.75, bin_high=1.0, mean_confidence=0.85, accuracy=0.5, count=2)),
    ]
    # the curve's weighted gaps are the ECE: (1 * 0.1 + 1 * 0.6 + 2 * 0.35) / 4 = 0.35
    ece = sum(r["count"] * abs(r["accuracy"] - r["mean_confidence"]) for r in curve) / 4
    assert ece == pytest.approx(0.35) == pytest.approx(expected_calibration_error(PROB, CORRECT, num_bins=4))


# ------------------------------------------------------------------ agreement
def test_cohen_kappa_on_a_2x2_table():
    # agreement table (rows a, columns b):      b=1  b=0
    #                                   a=1      20    5    (25)
    #                                   a=0      10   15    (25)
    #                                           (30)  (20)   n = 50
    # p_o = (20 + 15) / 50 = 0.7;  p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5;  kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))  # no variation: undefined


def test_pairwise_kappas_use_only_shared_items():
    ratings = np.array([
        [1, 1, 0, 0, NAN, 1],
        [1, 0, 0, 0, 1, NAN],
        [NAN, NAN, NAN, 1, 0, NAN],
    ])
    out = pairwise_kappas(ratings, ["ann", "bob", "cy"])
    # ann-bob share items 0-3: ann 1 1 0 0, bob 1 0 0 0 -> table [[1, 1], [0, 2]] (rows ann=1, ann=0)
    # p_o = 3/4; p_e = (2/4)(1/4) + (2/4)(3/4) = 0.5; kappa = (0.75 - 0.5) / 0.5 = 0.5
    # ann-cy share only item 3 (skipped); bob-cy share items 3, 4: bob 0 1, cy 1 0 -> p_o = 0,
    # p_e = (1/2)(1/2) + (1/2)(1/2) = 0.5, kappa = (0 - 0.5) / 0.5 = -1
    assert out == [
        {"a": "ann", "b": "bob", "kappa": pytest.approx(0.5), "n_items": 4},
        {"a": "bob", "b": "cy", "kappa": pytest.approx(-1.0), "n_items": 2},
    ]


def test_krippendorff_alpha_two_coders_binary():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", binary example, 2 coders x 10 units
    ratings = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
               [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
    # coincidence matrix (each unit's pair counted both ways): o00 = 2 * 5 = 10, o11 = 2 * 1 = 2,
    # o01 = o10 = 4 (units 1, 3, 6, 9 disagree); n0 = 14, n1 = 6, n = 20
    # alpha = 1 - (n - 1) * (o01 + o10) / (n0 n1 + n1 n0) = 1 - 19 * 8 / 168 = 0.095238
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(1 - 19 * 8 / 168)
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(0.095238, abs=1e-6)


# Krippendorff (2011), nominal example with missing data: 4 observers x 12 units (unit 12 has a single
# value and is not pairable).
TEXTBOOK = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])
# Its coincidence matrix o_ck = sum over units of (number of c-k pairs) / (m_u - 1), values 1..5:
COINCIDENCE = np.array([
    [7, 4 / 3, 1 / 3, 1 / 3, 0],
    [4 / 3, 10, 4 / 3, 1 / 3, 0],
    [1 / 3, 4 / 3, 8, 1 / 3, 0],
    [1 / 3, 1 / 3, 1 / 3, 4, 0],
    [0, 0, 0, 0, 3],
])


def coincidences(ratings, codes):
    """o_ck from the definition, to confirm the matrix copied above."""
    o = np.zeros((len(codes), len(codes)))
    for unit in np.asarray(ratings).T:
        values = unit[~np.isnan(unit)]
        if len(values) < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    o[codes.index(c), codes.index(k)] += 1 / (len(values) - 1)
    return o


def test_krippendorff_alpha_textbook_example_from_its_coincidence_matrix():
    np.testing.assert_allclose(coincidences(TEXTBOOK, [1, 2, 3, 4, 5]), COINCIDENCE)
    # n_c = row sums = 9, 13, 10, 5, 3; n = 40; observed disagreement = off-diagonal sum = 40 - 32 = 8
    # sum_{c != k} n_c n_k = n^2 - sum n_c^2 = 1600 - (81 + 169 + 100 + 25 + 9) = 1216
    # alpha = 1 - (n - 1) * 8 / 1216 = 1 - 312 / 1216 = 0.743421
    n_c = COINCIDENCE.sum(axis=1)
    np.testing.assert_allclose(n_c, [9, 13, 10, 5, 3])
    n = n_c.sum()
    disagreement = COINCIDENCE.sum() - np.trace(COINCIDENCE)
    alpha = 1 - (n - 1) * disagreement / (n * n - (n_c**2).sum())
    assert alpha == pytest.approx(1 - 312 / 1216)
    assert krippendorff_alpha_nominal(TEXTBOOK) == pytest.approx(alpha)
    assert krippendorff_alpha_nominal(TEXTBOOK) == pytest.approx(0.743, abs=5e-4)  # the published value


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: accuracy_with_ci([]), "at least one outcome"),
        (lambda: accuracy_with_ci([[1, 0]]), "1-D"),
        (lambda: accuracy_with_ci([1, 2]), "booleans or 0/1"),
        (lambda: brier_score([0.5, 0.5], [1]), "same length"),
        (lambda: brier_score([1.2, 0.5], [1, 0]), r"must lie in \[0, 1\]"),
        (lambda: brier_score([-0.1], [1]), r"must lie in \[0, 1\]"),
        (lambda: expected_calibration_error([NAN], [1]), r"must lie in \[0, 1\]"),
        (lambda: expected_calibration_error([0.5], [0.5]), "booleans or 0/1"),
        (lambda: expected_calibration_error([0.5], [1], num_bins=0), "num_bins must be a positive integer"),
        (lambda: reliability_curve([[0.5]], [1]), "1-D"),
        (lambda: krippendorff_alpha_nominal([1, 2, 3]), "2-D array of annotators x items"),
        (lambda: krippendorff_alpha_nominal([[1, 2, 3]]), "at least 2 annotators"),
        (lambda: krippendorff_alpha_nominal([[1, 1], [1, 1]]), "two distinct codes"),
        (lambda: krippendorff_alpha_nominal([[1, NAN], [NAN, 2]]), "rated by two annotators"),
        (lambda: cohen_kappa([1, 0], [1]), "same items"),
        (lambda: cohen_kappa([], []), "at least one label"),
        (lambda: pairwise_kappas([[1, 0], [0, 1]], ["only-one"]), "name each of the 2 annotators"),
    ],
)
def test_bad_input_raises_one_sentence(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text
