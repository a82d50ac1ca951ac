"""Human study: accuracy, calibration and agreement of the people who judged debates, against the model judge."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app.common import get_store, require_researcher, short_id
from debate.analysis import metrics
from debate.records.storage import EXPORT_FORMATS, StorageError

require_researcher()
store = get_store()
st.title("Human study")

studies = {s["id"]: s for s in store.list_studies()}
experiments = {e["id"]: e["name"] for e in store.list_experiments()}
c0, c1, c2, c3 = st.columns(4)
study_id = c0.selectbox("Study", [None, *studies], key="a_study",
                        format_func=lambda s: "all judgments" if s is None else studies[s]["name"])
experiment_id = c1.selectbox("Experiment", [None, *experiments], key="a_experiment",
                             format_func=lambda e: "all experiments" if e is None else f"{experiments[e]} ({short_id(e)})")
all_judgments = store.query_judgments(experiment_id=experiment_id, study_id=study_id)
task = c2.selectbox("Task", [None, *sorted({j["task"] for j in all_judgments})], key="a_task",
                    format_func=lambda t: "all tasks" if t is None else t)
protocol = c3.selectbox("Protocol", [None, *sorted({j["protocol"] for j in all_judgments
                                                    if task is None or j["task"] == task})], key="a_protocol",
                        format_func=lambda p: "all protocols" if p is None else p)
filters = {k: v for k, v in {"experiment_id": experiment_id, "protocol": protocol, "task": task,
                             "study_id": study_id}.items() if v is not None}
judgments = [j for j in all_judgments if (protocol is None or j["protocol"] == protocol)
             and (task is None or j["task"] == task)]
st.caption("Practice judgments are left out everywhere on this page.")

if not judgments:
    st.info("No human judgments are stored" + (" for these filters" if filters else "") + " yet. People judge "
            "debates on the **Judge a debate** page; the numbers appear here as soon as there is one.")
    st.stop()

n_people = len({j["annotator_id"] for j in judgments})
n_debates = len({j["transcript_id"] for j in judgments})
m1, m2, m3, m4 = st.columns(4)
m1.metric("Judgments", len(judgments))
m2.metric("Annotators", n_people)
m3.metric("Debates judged", n_debates)
m4.metric("Median seconds per judgment", f"{np.median([j['seconds_spent'] for j in judgments]):.0f}")


PERCENT_COLUMNS = ("accuracy", "ci95 low", "ci95 high")
#: Shares shown as percentages with one decimal, like the headline numbers (the values are 0..100).
PERCENT = {c: st.column_config.NumberColumn(c, format="%.1f%%") for c in PERCENT_COLUMNS}


def pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def ci_table(rows: list[dict], group: str) -> pd.DataFrame:
    """Accuracy with its 95% interval per group, in percent (0..100)."""
    return pd.DataFrame([{group: r["group"], "accuracy": pct(r["accuracy"]), "ci95 low": pct(r["ci_low"]),
                          "ci95 high": pct(r["ci_high"]), "n": r["n"]} for r in rows])


# ------------------------------------------------------------------ accuracy
st.header("Accuracy")
overall = metrics.accuracy_by(judgments)[0]
st.metric("Share of judgments that chose the true claim",
          f"{overall['accuracy']:.1%}", help=f"95% Wilson interval {overall['ci_low']:.1%} – {overall['ci_high']:.1%}, "
                                             f"n = {overall['n']}")
st.caption(f"95% interval: {overall['ci_low']:.1%} – {overall['ci_high']:.1%} over {overall['n']} judgments.")
a1, a2 = st.columns(2)
with a1:
    st.markdown("**Per annotator**")
    st.dataframe(ci_table(metrics.accuracy_by(judgments, "annotator_name"), "annotator"), hide_index=True,
                 column_config=PERCENT)
with a2:
    st.markdown("**Per protocol**")
    st.dataframe(ci_table(metrics.accuracy_by(judgments, "protocol"), "protocol"), hide_index=True,
                 column_config=PERCENT)

# ------------------------------------------------------------------ calibration
st.header("Calibration")
confidence = [j["confidence"] for j in judgments]
correct = [j["correct"] for j in judgments]
b1, b2 = st.columns(2)
b1.metric("Brier score", f"{metrics.brier_score(confidence, correct):.3f}",
          help="Mean squared gap between the stated confidence and the 0/1 outcome (lower is better).")
b2.metric("Expected calibration error", f"{metrics.expected_calibration_error(confidence, correct):.3f}",
          help="10 equal-width bins of confidence.")
curve = metrics.reliability_curve(confidence, correct)
st.markdown("**Reliability diagram**: accuracy against stated confidence, per confidence bin (the dashed "
            "diagonal is perfect calibration; a bigger dot is a bin with more judgments)")
points = pd.DataFrame([{"mean stated confidence": r["mean_confidence"], "accuracy": r["accuracy"],
                        "judgments": r["count"]} for r in curve])
unit = alt.Scale(domain=[0, 1], nice=False)
axis = alt.Axis(format="%", values=[i / 10 for i in range(11)])
diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
    strokeDash=[5, 4], color="#7f7f7f").encode(x=alt.X("x:Q", scale=unit, axis=axis, title="mean stated confidence"),
                                                y=alt.Y("y:Q", scale=unit, axis=axis, title="accuracy"))
observed = alt.Chart(points).mark_line(point=alt.OverlayMarkDef(filled=True), color="#1f77b4").encode(
    x=alt.X("mean stated confidence:Q", scale=unit), y=alt.Y("accuracy:Q", scale=unit),
    tooltip=[alt.Tooltip("mean stated confidence:Q", format=".1%"), alt.Tooltip("accuracy:Q", format=".1%"),
             "judgments:Q"])
sized = alt.Chart(points).mark_circle(color="#1f77b4", opacity=0.35).encode(
    x=alt.X("mean stated confidence:Q", scale=unit), y=alt.Y("accuracy:Q", scale=unit),
    size=alt.Size("judgments:Q", legend=None, scale=alt.Scale(range=[60, 600])))
c_plot, c_table = st.columns([3, 2])
c_plot.altair_chart((diagonal + sized + observed).properties(height=420), width="stretch")
c_table.dataframe(pd.DataFrame([{"confidence bin": f"{r['bin_low']:.0%}–{r['bin_high']:.0%}",
                                 "mean confidence": pct(r["mean_confidence"]), "accuracy": pct(r["accuracy"]),
                                 "judgments": r["count"]} for r in curve]),
                  hide_index=True, column_config={c: st.column_config.NumberColumn(c, format="%.1f%%")
                                                  for c in ("mean confidence", "accuracy")})

# ------------------------------------------------------------------ agreement
st.header("Agreement between annotators")
overlap = [j for j in judgments if j["study_set"] == "overlap"]
agreement_on = overlap if overlap else judgments
ratings, raters, items = metrics.judgment_ratings(agreement_on)
st.caption("On the study's overlap set (the debates every participant judges), coding which side each person chose."
           if overlap else "Over the debates judged by at least two people, coding which side each person chose "
           "(choose a study to measure it on its overlap set).")
if not items:
    st.info("No debate has been judged by two or more people yet, so agreement cannot be measured.")
else:
    try:
        alpha = metrics.krippendorff_alpha_nominal(ratings)
        st.metric("Krippendorff's alpha (nominal)", f"{alpha:.3f}")
        st.caption(f"{len(items)} debates, {len(raters)} annotators.")
    except ValueError as e:
        st.info(f"Krippendorff's alpha is not defined here: {e}")
    kappas = metrics.pairwise_kappas(ratings, raters)
    if kappas:
        st.markdown("**Cohen's kappa per pair of annotators** (over the debates both judged; empty = undefined)")
        st.dataframe(pd.DataFrame([{"annotator A": k["a"], "annotator B": k["b"],
                                    "kappa": None if math.isnan(k["kappa"]) else k["kappa"],
                                    "shared debates": k["n_items"]} for k in kappas]),
                     hide_index=True)
    else:
        st.info("No two annotators share two or more debates yet, so Cohen's kappa cannot be computed.")

# ------------------------------------------------------------------ humans vs model
st.header("People vs the model judge")
versus = metrics.human_vs_model(judgments)
if versus is None:
    st.info("None of these debates records a model verdict.")
else:
    v1, v2, v3 = st.columns(3)
    v1.metric("Agreement with the model", f"{versus['agreement']['accuracy']:.1%}",
              help="Share of judgments that chose the same side as the model judge.")
    v2.metric("Human accuracy", f"{versus['human_accuracy']['accuracy']:.1%}")
    v3.metric("Model accuracy", f"{versus['model_accuracy']['accuracy']:.1%}",
              help="Over the distinct debates these judgments cover.")
    st.dataframe(pd.DataFrame([{"who": name, "accuracy": pct(v["accuracy"]), "ci95 low": pct(v["ci_low"]),
                                "ci95 high": pct(v["ci_high"]), "n": v["n"]}
                               for name, v in (("people (per judgment)", versus["human_accuracy"]),
                                               ("model (per debate)", versus["model_accuracy"]),
                                               ("model (per judgment)", versus["model_accuracy_per_judgment"]),
                                               ("agreement (per judgment)", versus["agreement"]))]),
                 hide_index=True, column_config=PERCENT)
    st.caption(f"{versus['n_judgments']} judgments of {versus['n_debates']} debates.")

# ------------------------------------------------------------------ belief curves
st.header("Belief after each turn: people and the model judge")
with_beliefs = [j for j in judgments if j.get("beliefs_json")]
if not with_beliefs:
    st.info("None of these judgments records per-turn beliefs (the judging page stores them from schema 4 on).")
else:
    debates = {tid: store.get_transcript(tid) for tid in {j["transcript_id"] for j in with_beliefs}}
    curves = metrics.belief_curves(with_beliefs, debates)
    long = pd.DataFrame([{"turn": r["turn"], "who": who, "P(honest is right)": r[key]}
                         for r in curves for who, key in (("people (mean)", "people"), ("model judge (mean)", "model"))
                         if r[key] is not None])
    st.altair_chart(alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("turn:O", title="after turn"), y=alt.Y("P(honest is right):Q", scale=alt.Scale(domain=[0, 1]),
                                                       axis=alt.Axis(format="%")),
        color=alt.Color("who:N", scale=alt.Scale(domain=["people (mean)", "model judge (mean)"],
                                                 range=["#1f77b4", "#7f7f7f"]))).properties(height=320),
        width="stretch")
    st.dataframe(pd.DataFrame(curves), hide_index=True)
    st.caption("People's beliefs are stored as P(Debater A is right) and turned into P(honest is right) with each "
               "judgment's side order; the model's are its probability for the honest claim after the same turn.")

# ------------------------------------------------------------------ export
st.header("Export")
mime = {"jsonl": "application/jsonl", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
FORMAT_NAMES = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet"}
cols = st.columns(len(EXPORT_FORMATS))
with tempfile.TemporaryDirectory() as tmp:
    for col, fmt in zip(cols, EXPORT_FORMATS):
        path = Path(tmp) / f"judgments.{fmt}"
        try:
            store.export_judgments(path, fmt, **filters)
        except StorageError as e:
            col.warning(str(e))
            continue
        col.download_button(f"Download {FORMAT_NAMES.get(fmt, fmt.upper())}", data=path.read_bytes(), file_name=f"judgments.{fmt}",
                            mime=mime[fmt], key=f"export_{fmt}")

st.subheader("Judge training data")
st.caption("Each judgment becomes one example: the pixels the person saw (mask and values), the class they chose "
           "as the label and their confidence as its weight. Train a judge on it with "
           "`debate train-judge --from-judgments --out DIR`.")
out_path = st.text_input("Write to", value=os.path.join("debate-results", "human-judge-data.npz"), key="training_data_path")
if st.button("Make judge training data", key="make_training_data"):
    from judges.human_adapter import judgments_to_dataset, save_examples

    try:
        data = judgments_to_dataset(store, **filters)
        written = save_examples(out_path, data.views, data.labels, data.weights,
                                judgment_ids=np.asarray(data.judgment_ids), transcript_ids=np.asarray(data.transcript_ids))
    except (ValueError, OSError) as e:
        st.error(str(e))
    else:
        st.success(f"Wrote {len(data)} examples ({data.views.shape[1]}x{data.views.shape[2]} images, "
                   f"{data.num_classes} classes) to {written.resolve()}.")
