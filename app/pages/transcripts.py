"""Browse stored debates: filter, search, open one and replay it turn by turn (researcher view).

Every task that ``debate.records.rendering`` knows replays through its view (``app.views.view_for``):
on a board, or as text (each turn, the evidence the judge decided on and what an exact check of it
says).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import views
from app.common import require_researcher
from app.common import (claim_text, db_url, get_store, hex_color, role_color, short_id, swatch,
                        transcript_index)
from debate.records import rendering

ANY = "any"
OUTCOMES = {ANY: None, "honest won": "honest", "liar won": "liar"}

require_researcher()
store = get_store()
st.title("Transcripts")

index = transcript_index(db_url())
if not index:
    st.info("No debates are stored in this database yet. Play some with `debate quickstart`, `debate play` or "
            "`debate reproduce irving2018`, or on the Play page.")
    st.stop()

judgments = store.query_judgments()
judged_by: dict[str, set[str]] = {}
n_judgments: dict[str, int] = {}
for j in judgments:
    judged_by.setdefault(j["transcript_id"], set()).add(j["annotator_name"])
    n_judgments[j["transcript_id"]] = n_judgments.get(j["transcript_id"], 0) + 1
experiments = {e["id"]: e["name"] for e in store.list_experiments()}


def options(field: str) -> list:
    return [ANY, *sorted({r[field] for r in index if r[field] is not None})]


with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    experiment = c1.selectbox("Experiment", [ANY, *sorted({r["experiment_id"] for r in index if r["experiment_id"]})],
                              key="f_experiment",
                              format_func=lambda e: e if e == ANY else f"{experiments.get(e, '?')} ({short_id(e)})")
    task = c2.selectbox("Task", options("task"), key="f_task")
    protocol = c3.selectbox("Protocol", options("protocol"), key="f_protocol")
    c4, c5, c6 = st.columns(3)
    debaters = sorted({d for r in index for d in r["debaters"] if d})
    debater = c4.selectbox("Debater (either side)", [ANY, *debaters], key="f_debater")
    outcome = c5.selectbox("Outcome", list(OUTCOMES), key="f_outcome")
    annotator = c6.selectbox("Judged by", [ANY, *sorted({j["annotator_name"] for j in judgments})], key="f_annotator")
    search = st.text_input("Search instance id, transcript id or a study alias", key="f_search",
                           placeholder="e.g. mnist-test:17 or D-7QK3")

rows = index
if experiment != ANY:
    rows = [r for r in rows if r["experiment_id"] == experiment]
if task != ANY:
    rows = [r for r in rows if r["task"] == task]
if protocol != ANY:
    rows = [r for r in rows if r["protocol"] == protocol]
if debater != ANY:
    rows = [r for r in rows if debater in r["debaters"]]
if OUTCOMES[outcome] is not None:
    rows = [r for r in rows if r["winner_role"] == OUTCOMES[outcome]]
if annotator != ANY:
    rows = [r for r in rows if annotator in judged_by.get(r["id"], ())]
if search.strip():
    needle = search.strip().lower()
    aliased = {a["transcript_id"] for a in store.transcripts_for_alias(needle)} if needle.startswith("d-") else set()
    rows = [r for r in rows if needle in r["instance_id"].lower() or needle in r["id"].lower() or r["id"] in aliased]

st.caption(f"{len(rows)} of {len(index)} debates match.")
show_experiment = any(r["experiment_id"] for r in rows)
table = pd.DataFrame([{  # narrow columns so the table fits the page (the honest claim is the true class)
    "id": short_id(r["id"]), "instance": r["instance_id"],
    **({"experiment": experiments.get(r["experiment_id"], "")} if show_experiment else {}),
    "protocol": r["protocol"], "claims": r["claims"], "winner": r["winner_role"],
    "debaters": f"{r['honest_debater']} / {r['liar_debater']}", "turns": r["turns"],
    "judged": n_judgments.get(r["id"], 0), "created": r["created_at"][:16].replace("T", " "),
} for r in rows])
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "id": st.column_config.TextColumn("id", help="The first 8 characters of the transcript id (search takes more)."),
    "claims": st.column_config.TextColumn("claims", help="The honest claim (the true class), the liar's claim; "
                                                         "- = no precommitment."),
    "debaters": st.column_config.TextColumn("debaters", help="The honest debater / the liar."),
    "judged": st.column_config.NumberColumn("judged", help="How many human judgments this debate received."),
    "created": st.column_config.TextColumn("created", help="When the debate was stored (UTC)."),
})
if not rows:
    st.info("No stored debate matches these filters.")
    st.stop()

MAX_OPTIONS = 1000
if len(rows) > MAX_OPTIONS:
    st.caption(f"The list below holds the first {MAX_OPTIONS} matches: narrow the filters or search to reach others.")
labels = {r["id"]: f"{r['instance_id']} · {r['protocol']} · {short_id(r['id'])}" for r in rows[:MAX_OPTIONS]}
chosen = st.selectbox("Open a debate", list(labels), index=None, key="open_transcript", format_func=labels.get,
                      placeholder="choose a debate from the table to replay it")
if chosen is None:
    st.stop()

t = store.get_transcript(chosen)
if t is None:
    st.warning("That debate is no longer in the database.")
    st.stop()
st.subheader(f"Debate {short_id(t.id)}: {t.instance_id}")
roles = {p: r for p, r in enumerate(t.roles)}
try:
    rendering.renderer_for(t.task)
except rendering.UnknownTaskError as e:
    st.info(f"This debate cannot be replayed here: {e}")
    st.stop()
st.markdown(
    f"Protocol **{t.protocol}**, true answer **{rendering.value_text(t, t.ground_truth)}**; "
    + ", ".join(f"{roles[p]} ({t.debaters[p]}) claims **{claim_text(t, p)}**" for p in range(len(t.claims)))
    + f"; {roles[t.first_player]} moves first. Verdict: **{rendering.value_text(t, t.verdict_claim)}**, "
      f"the **{t.winner_role or 'nobody'}** wins. Judge: `{t.judge}`."
)
if not t.turns:
    st.info("This debate has no turns (no debate was played).")
    st.stop()

n = len(t.turns)
turn = st.slider("Turn", min_value=0, max_value=n, value=n, key="replay_turn")


def turn_lines(turns) -> None:
    for tr in turns:
        st.markdown(swatch(role_color(roles[tr.player]), f"Turn {tr.index + 1}: {rendering.turn_text(t, tr)}; judge: "
                           + ", ".join(f"{roles[p]} {q:.2f}" for p, q in enumerate(tr.judge_probs))),
                    unsafe_allow_html=True)


views.view_for(t).replay(t, turn, turn_lines=turn_lines)

st.markdown("**The judge's belief after each turn** (probability of each side's claim)")
series = [f"{roles[p]} ({claim_text(t, p)})" for p in range(len(t.claims))]
belief = pd.DataFrame([{"turn": tr.index + 1, "side": series[p], "probability": q}
                       for tr in t.turns for p, q in enumerate(tr.judge_probs) if p < len(series)])
colors = alt.Scale(domain=series, range=[hex_color(role_color(roles[p])) for p in range(len(series))])
st.altair_chart(
    alt.Chart(belief).mark_line(point=True).encode(
        x=alt.X("turn:Q", title="turn", scale=alt.Scale(domain=[1, max(n, 2)]), axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("probability:Q", title="judge probability", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("side:N", scale=colors, title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["turn", "side", alt.Tooltip("probability:Q", format=".3f")]),
    width="stretch")

st.markdown("**Human judgments of this debate**")
received = store.query_judgments(transcript_id=t.id)
if received:
    st.dataframe(pd.DataFrame([{
        "annotator": j["annotator_name"], "verdict": j["verdict_claim"], "side": j["verdict_role"],
        "correct": j["correct"], "confidence": j["confidence"], "turns seen": j["turns_seen"],
        "seconds": round(j["seconds_spent"], 1), "side order": j["side_order"], "explanation": j["explanation"],
        "when": j["created_at"][:19],
    } for j in received]), hide_index=True, width="stretch")
else:
    st.caption("No human has judged this debate yet.")
