"""Analytics for human judging studies: accuracy, calibration and agreement between annotators.

Pure numpy, scikit-learn and krippendorff; no JAX. Bad input (wrong shape or length, a probability
outside [0, 1], an outcome that is not 0/1) raises ``ValueError`` with one sentence.
"""

from __future__ import annotations

import itertools
import math
import warnings

import krippendorff
import numpy as np
from sklearn.metrics import brier_score_loss, cohen_kappa_score

Z_95 = 1.959963984540054  # standard normal quantile at 0.975


# ------------------------------------------------------------------ validation
def _outcomes(correct, name: str = "correct") -> np.ndarray:
    arr = np.asarray(correct)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of outcomes (got shape {arr.shape}).")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one outcome.")
    if arr.dtype != bool:
        try:
            as_float = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold booleans or 0/1 values.") from None
        bad = ~np.isin(as_float, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"{name} must hold booleans or 0/1 values (got {arr[bad][0]!r}).")
    return arr.astype(bool)


def _probabilities(prob, correct, name: str = "prob") -> tuple[np.ndarray, np.ndarray]:
    try:
        p = np.asarray(prob, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D sequence of numbers in [0, 1].") from None
    if p.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of probabilities (got shape {p.shape}).")
    y = _outcomes(correct)
    if p.shape != y.shape:
        raise ValueError(f"{name} and correct must have the same length (got {p.size} and {y.size}).")
    bad = ~((p >= 0.0) & (p <= 1.0))  # also catches NaN
    if bad.any():
        raise ValueError(f"{name} must lie in [0, 1] (got {p[bad][0]!r}).")
    return p, y


def _ratings(ratings) -> np.ndarray:
    try:
        r = np.asarray(ratings, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("ratings must be numeric codes (annotators x items) with NaN for missing.") from None
    if r.ndim != 2:
        raise ValueError(f"ratings must be a 2-D array of annotators x items (got shape {r.shape}).")
    if r.shape[0] < 2 or r.shape[1] < 1:
        raise ValueError(f"ratings need at least 2 annotators and 1 item (got shape {r.shape}).")
    if np.isinf(r).any():
        raise ValueError("ratings must be finite codes or NaN for missing.")
    return r


# ------------------------------------------------------------------ accuracy
def accuracy_with_ci(correct) -> dict:
    """Accuracy with its 95% Wilson score interval: ``{accuracy, n, ci_low, ci_high}``."""
    y = _outcomes(correct)
    acc = float(y.mean())
    low, high = wilson_interval(acc, y.size)
    return {"accuracy": acc, "n": int(y.size), "ci_low": low, "ci_high": high}


def wilson_interval(acc: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``acc`` observed over ``n`` items."""
    if n == 0:
        return (0.0, 1.0)
    z2 = Z_95**2
    centre = (acc + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(acc * (1 - acc) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 or n successes the bound is exactly 0 or 1; computed, it can miss by one rounding step.
    low = 0.0 if acc == 0.0 else max(0.0, centre - half)
    high = 1.0 if acc == 1.0 else min(1.0, centre + half)
    return (float(low), float(high))


# ------------------------------------------------------------------ calibration
def brier_score(prob_correct, correct) -> float:
    """Mean squared error between the stated probability of being right and the 0/1 outcome."""
    p, y = _probabilities(prob_correct, correct, "prob_correct")
    return float(brier_score_loss(y.astype(int), p, pos_label=1))


def _bins(p: np.ndarray, num_bins: int) -> np.ndarray:
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer (got {num_bins!r}).")
    # Equal-width bins [k/B, (k+1)/B), the last one closed so that 1.0 falls in it.
    return np.minimum((p * num_bins).astype(int), int(num_bins) - 1)


def expected_calibration_error(prob, correct, num_bins: int = 10) -> float:
    """ECE: sum over equal-width bins of (bin count / n) * |accuracy - mean confidence|."""
    p, y = _probabilities(prob, correct)
    b = _bins(p, num_bins)
    gap = np.abs(np.bincount(b, y, minlength=num_bins) - np.bincount(b, p, minlength=num_bins))
    return float(gap.sum() / p.size)  # |sum(y) - sum(p)| / n_b * n_b / n, per bin


def reliability_curve(prob, correct, num_bins: int = 10) -> list[dict]:
    """Per non-empty bin: ``{bin_low, bin_high, mean_confidence, accuracy, count}``."""
    p, y = _probabilities(prob, correct)
    b = _bins(p, num_bins)
    rows = []
    for k in range(int(num_bins)):
        inside = b == k
        if inside.any():
            rows.append({
                "bin_low": k / num_bins,
                "bin_high": (k + 1) / num_bins,
                "mean_confidence": float(p[inside].mean()),
                "accuracy": float(y[inside].mean()),
                "count": int(inside.sum()),
            })
    return rows


# ------------------------------------------------------------------ agreement
def krippendorff_alpha_nominal(ratings) -> float:
    """Krippendorff's alpha for nominal codes; ``ratings`` is annotators x items, NaN = missing."""
    r = _ratings(ratings)
    values = r[~np.isnan(r)]
    if np.unique(values).size < 2:
        raise ValueError("Krippendorff's alpha needs at least two distinct codes among the ratings.")
    pairable = (~np.isnan(r)).sum(axis=0) >= 2
    if not pairable.any():
        raise ValueError("Krippendorff's alpha needs at least one item rated by two annotators.")
    return float(krippendorff.alpha(reliability_data=r, level_of_measurement="nominal"))


def cohen_kappa(a, b) -> float:
    """Cohen's kappa between two annotators' labels of the same items (NaN when undefined, e.g. both
    gave one and the same label throughout)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D label sequences (got shapes {a.shape} and {b.shape}).")
    if a.size != b.size:
        raise ValueError(f"a and b must label the same items (got {a.size} and {b.size} labels).")
    if a.size == 0:
        raise ValueError("a and b must hold at least one label each.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(a, b)
    return float(kappa)


def pairwise_kappas(ratings, annotator_names) -> list[dict]:
    """Cohen's kappa for every pair of annotators over the items both rated:
    ``[{a, b, kappa, n_items}]`` in annotator order; pairs sharing fewer than 2 items are skipped."""
    r = _ratings(ratings)
    names = list(annotator_names)
    if len(names) != r.shape[0]:
        raise ValueError(f"annotator_names must name each of the {r.shape[0]} annotators (got {len(names)} names).")
    rated = ~np.isnan(r)
    out = []
    for i, j in itertools.combinations(range(r.shape[0]), 2):
        shared = rated[i] & rated[j]
        n = int(shared.sum())
        if n < 2:
            continue
        out.append({"a": names[i], "b": names[j], "kappa": cohen_kappa(r[i, shared], r[j, shared]), "n_items": n})
    return out


# ------------------------------------------------------------------ human-study tables
# These take the rows of ``debate.records.storage.Store.query_judgments`` (dicts with at least
# annotator_name, transcript_id, verdict_role, correct, confidence and the model_* fields).

SIDE_CODES = {"honest": 0, "liar": 1}


def judgment_ratings(judgments, min_annotators: int = 2) -> tuple[np.ndarray, list[str], list[str]]:
    """Ratings matrix for agreement statistics: annotators x debates, coded by the side each person
    chose (0 honest, 1 liar; NaN where they did not judge the debate), over the debates judged by at
    least ``min_annotators`` people. Returns ``(ratings, annotator_names, transcript_ids)``, both
    lists in order of first appearance. Coding the side rather than the class makes two people who
    both chose "not 3" (without precommitment) agree whichever digit they guessed."""
    rows = list(judgments)
    by_item: dict[str, dict[str, int]] = {}
    names: list[str] = []
    for r in rows:
        role = r["verdict_role"]
        if role not in SIDE_CODES:
            raise ValueError(f"verdict_role must be 'honest' or 'liar' (got {role!r}).")
        if r["annotator_name"] not in names:
            names.append(r["annotator_name"])
        by_item.setdefault(r["transcript_id"], {})[r["annotator_name"]] = SIDE_CODES[role]
    items = [t for t, votes in by_item.items() if len(votes) >= min_annotators]
    raters = [n for n in names if any(n in by_item[t] for t in items)]
    ratings = np.full((len(raters), len(items)), np.nan)
    for j, t in enumerate(items):
        for i, n in enumerate(raters):
            if n in by_item[t]:
                ratings[i, j] = by_item[t][n]
    return ratings, raters, items


def accuracy_by(judgments, key: str | None = None) -> list[dict]:
    """Accuracy with its 95% Wilson interval over all judgments (``key`` None) or per value of
    ``key`` (e.g. "annotator_name", "protocol"), sorted by that value:
    ``[{group, accuracy, n, ci_low, ci_high}]``; empty input gives an empty list."""
    groups: dict = {}
    for r in judgments:
        groups.setdefault("all" if key is None else r[key], []).append(bool(r["correct"]))
    return [{"group": g, **accuracy_with_ci(v)} for g, v in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def human_vs_model(judgments) -> dict | None:
    """People against the model judge on the same debates, over the judgments whose debate has a
    model verdict: ``n_judgments``, ``n_debates``, ``agreement`` (share of judgments choosing the
    same side as the model), ``human_accuracy`` (per judgment), ``model_accuracy`` (per debate) and
    the accuracy both would have per judgment (``model_accuracy_per_judgment``), each accuracy with
    its 95% interval as a dict from ``accuracy_with_ci``. None when no judgment has a model verdict."""
    rows = [r for r in judgments if r.get("model_verdict_claim") is not None and r.get("model_winner_role")]
    if not rows:
        return None
    agree = [r["verdict_role"] == r["model_winner_role"] for r in rows]
    per_debate = {r["transcript_id"]: bool(r["model_correct"]) for r in rows}
    return {
        "n_judgments": len(rows),
        "n_debates": len(per_debate),
        "agreement": accuracy_with_ci(agree),
        "human_accuracy": accuracy_with_ci([bool(r["correct"]) for r in rows]),
        "model_accuracy": accuracy_with_ci(list(per_debate.values())),
        "model_accuracy_per_judgment": accuracy_with_ci([bool(r["model_correct"]) for r in rows]),
    }


def belief_curves(judgments, transcripts) -> list[dict]:
    """Per turn k (1-based): people's mean probability that the honest debater is right after
    turn k (from each judgment's per-turn beliefs, stored as P(Debater A is right) and turned
    around with its side_order), and the model judge's mean probability for the honest claim
    after turn k over the same debates.

    ``transcripts`` maps transcript id -> Transcript. Rows: turn, people (mean), people_n,
    model (mean), model_n; a turn nobody reached is left out.
    """
    import json

    people: dict[int, list[float]] = {}
    model: dict[int, list[float]] = {}
    for j in judgments:
        raw = j.get("beliefs_json")
        if not raw:
            continue
        honest_left = j["side_order"] == "honest-left"
        for k, p_a in enumerate(json.loads(raw), start=1):
            people.setdefault(k, []).append(p_a if honest_left else 1.0 - p_a)
        t = transcripts.get(j["transcript_id"])
        honest = None if t is None else t.player_of_role("honest")
        if honest is None:
            continue
        team = t.players[honest].team
        for k, turn in enumerate(t.turns, start=1):
            if turn.judge_probs and team < len(turn.judge_probs):
                model.setdefault(k, []).append(float(turn.judge_probs[team]))
    return [{"turn": k, "people": float(np.mean(people[k])), "people_n": len(people[k]),
             "model": float(np.mean(model[k])) if model.get(k) else None, "model_n": len(model.get(k, []))}
            for k in sorted(people)]
