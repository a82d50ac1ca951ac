"""The computation view: bisection debates as text, ending on the single step the judge checks."""

from __future__ import annotations

from app.views import TextView


class ComputationView(TextView):
    task = "computation"
    label = "computation"
    explanation_hint = "e.g. 13 + 8 = 21 (mod 31), not 24: the checked step is wrong"
    judge_evidence = "**What you check:** {evidence}"
    replay_evidence = "**Checked {evidence}**"


VIEW = ComputationView()
