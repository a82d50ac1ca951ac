"""Judge a debate: an annotator steps through a stored debate and gives a verdict.

Any task that ``debate.records.rendering`` renders can be judged, drawn by the task's view
(``app.views.view_for``): on a board, or as text, turn by turn, then the evidence the judge decides
on (e.g. the single step to check). The person sees only what the debaters revealed, the two
debaters as "Debater A" / "Debater B" (in a random order per assignment, recorded as side_order),
never who is honest, the protocol, the true answer or the model judge's belief.
"""

from __future__ import annotations

import random
import time

import streamlit as st

from app import views
from app.common import (NEUTRAL_COLOR_NAMES, NEUTRAL_COLORS, claim_text, db_url, get_store, num_classes, short_id,
                        shortcut, swatch, transcript_index)
from debate.records import rendering
from debate.records.storage import SIDE_ORDERS, StorageError

FORM_KEYS = ("verdict", "confidence", "explanation", "guess")
NOT_ALLOWED_50 = "50% is not allowed: pick a side"

store = get_store()
ss = st.session_state


# ------------------------------------------------------------------ callbacks (run before the script)

def create_profile() -> None:
    try:
        annotator = store.get_or_create_annotator(ss.get("new_annotator_name") or "")
    except StorageError as e:
        ss["profile_error"] = str(e)
        return
    ss["annotator_choice"] = annotator["name"]
    ss["new_annotator_name"] = ""


def next_turn() -> None:
    a = ss.get("assignment")
    if a is not None:
        a["turns_shown"] = min(a["turns_shown"] + 1, len(a["transcript"].turns))


def submit(annotator: dict) -> None:
    a = ss.get("assignment")
    if a is None:
        return
    t = a["transcript"]
    chosen = ss.get("verdict")
    confidence = ss.get("confidence")
    explanation = (ss.get("explanation") or "").strip()
    if chosen is None:
        ss["judge_error"] = "Choose one of the two claims before submitting."
        return
    if confidence == 50:
        ss["judge_error"] = f"{NOT_ALLOWED_50} (choose 45% or less, or 55% or more)."
        return
    if not explanation:
        ss["judge_error"] = "The explanation must not be blank: say in a sentence why you chose this claim."
        return
    verdict_claim = t.claims[chosen]
    if verdict_claim is None:  # "not <honest claim>": the person names the digit they believe in
        verdict_claim = ss.get("guess")
        if verdict_claim is None:
            ss["judge_error"] = f"You chose \"{claim_text(t, chosen)}\": also say which digit you think it is."
            return
    seconds = time.monotonic() - a["started"]
    try:
        store.add_judgment(t.id, annotator["id"], int(verdict_claim), confidence=confidence / 100,
                           explanation=explanation, side_order=a["side_order"], seconds_spent=seconds,
                           turns_seen=int(a["turns_shown"]), mode="stepped")
    except StorageError as e:
        if store.count_judgments(annotator_id=annotator["id"], transcript_id=t.id):
            # judged meanwhile (e.g. in another browser tab): move on to the next debate
            ss["assignment"] = None
            ss["judge_flash_info"] = str(e)
        else:
            ss["judge_error"] = str(e)
        return
    ss["judge_flash"] = (f"Thank you, {annotator['name']}: your judgment of debate {short_id(t.id)} was saved "
                         f"({seconds:.0f} s, {a['turns_shown']} turns seen).")
    ss["assignment"] = None
    for k in FORM_KEYS:
        ss.pop(k, None)


# ------------------------------------------------------------------ page

st.title("Judge a debate")
st.caption("Two debaters argue for different answers to one question; one of them is telling the truth. "
           "Step through what they say, then decide who.")
if "judge_flash" in ss:
    st.success(ss.pop("judge_flash"))
if "judge_flash_info" in ss:
    st.info(ss.pop("judge_flash_info"))

annotators = store.list_annotators()
by_name = {a["name"]: a for a in annotators}
if ss.get("annotator_choice") not in by_name:
    ss.pop("annotator_choice", None)
left, right = st.columns([3, 2])
with left:
    choice = st.selectbox("Your profile", list(by_name), index=None, key="annotator_choice",
                          placeholder="Pick your name")
with right:
    with st.expander("Create a profile", expanded=not annotators):
        st.text_input("Your name", key="new_annotator_name", max_chars=64,
                      help="No password: pick a name others will not use.")
        st.button("Create profile", key="create_profile", on_click=create_profile)
if "profile_error" in ss:
    st.error(ss.pop("profile_error"))
if choice is None:
    st.info("Pick your profile above, or create one, to start judging.")
    st.stop()
annotator = by_name[choice]

with st.expander("Assignment settings (for study organisers)"):
    target = st.number_input("Target judgments per debate", min_value=1, max_value=1000, value=3, step=1,
                             key="target", help="A debate is no longer handed out once this many people judged it.")
    stored_tasks = {r["task"] for r in transcript_index(db_url())}
    tasks = (views.judge_task_order(set(rendering.supported_tasks()) & stored_tasks)
             or views.judge_task_order(rendering.supported_tasks())[:1])
    task = st.selectbox("Task", tasks, key="filter_task", help="Debates of this task are handed out.")
    experiments = {e["id"]: e for e in store.list_experiments()}
    experiment_id = st.selectbox("Experiment", [None, *experiments], key="filter_experiment",
                                 format_func=lambda e: "any experiment" if e is None else
                                 f"{experiments[e]['name']} ({short_id(e)}, {experiments[e]['created_at'][:10]})")
    protocols = sorted({r["protocol"] for r in transcript_index(db_url()) if r["task"] == task})
    protocol = st.selectbox("Protocol", [None, *protocols], key="filter_protocol",
                            format_func=lambda p: "any protocol" if p is None else p)
    st.caption("Careful: a protocol that names its first mover tells the judge which debater argues which side.")

key = (annotator["id"], int(target), experiment_id, protocol, task)
a = ss.get("assignment")
if a is None or a["key"] != key:
    try:
        t = store.next_assignment(annotator["id"], int(target), experiment_id=experiment_id, task=task,
                                  protocol=protocol)
    except StorageError as e:
        st.error(str(e))
        st.stop()
    if a is not None and (t is None or t.id != a["transcript"].id or a["key"][0] != key[0]):
        # the person or the settings changed and the debate on screen is no longer theirs: give it back
        try:
            store.release_assignment(a["key"][0], a["transcript"].id)
        except StorageError:
            pass
        a = ss["assignment"] = None
    elif a is not None:  # the same debate under the new settings: keep the progress
        a["key"] = key
if a is None:
    if t is None:
        st.info(f"No debate is waiting for you, {annotator['name']}: you have judged every stored debate that "
                "matches the settings, or each has reached the target number of judgments. Thank you! "
                "(Raise the target or change the filters under Assignment settings to judge more.)")
        st.stop()
    a = ss["assignment"] = {"transcript": t, "key": key, "side_order": random.choice(SIDE_ORDERS),
                            "started": time.monotonic(), "turns_shown": 0}
    for k in FORM_KEYS:
        ss.pop(k, None)

t = a["transcript"]
try:
    renderer = rendering.renderer_for(t.task)
    view = views.view_for(t.task)
except rendering.UnknownTaskError as e:
    st.error(f"Debate {short_id(t.id)} cannot be shown here: {e}")
    st.stop()
honest, liar = t.player_of_role("honest"), t.player_of_role("liar")
if honest is None or liar is None:
    st.error(f"Debate {short_id(t.id)} has no honest/liar pair of debaters and cannot be judged here.")
    st.stop()
left_player, right_player = (honest, liar) if a["side_order"] == "honest-left" else (liar, honest)
letter = {left_player: "A", right_player: "B"}
color = {left_player: NEUTRAL_COLORS[0], right_player: NEUTRAL_COLORS[1]}
color_name = {left_player: NEUTRAL_COLOR_NAMES[0], right_player: NEUTRAL_COLOR_NAMES[1]}
n_turns, shown = len(t.turns), a["turns_shown"]

names = {p: f"Debater {letter[p]}" for p in letter}

st.subheader(f"Debate {short_id(t.id)}")
st.caption(renderer.instructions)
st.markdown(f"**Question:** {rendering.judge_question(t)}")
c1, c2 = st.columns(2)
for col, p in ((c1, left_player), (c2, right_player)):
    col.markdown(swatch(color[p], f"**{letter[p]} claims: {claim_text(t, p)}**"), unsafe_allow_html=True)
    col.caption(f"Debater {letter[p]} ({color_name[p]} {view.debater_mark})")


def turn_log() -> None:
    st.button("Next turn", key="next_turn", on_click=next_turn, disabled=shown >= n_turns, type="primary",
              help="Show the next turn (keyboard: N).", **shortcut("n"))
    for turn in t.turns[:shown]:
        st.markdown(swatch(color[turn.player], f"Turn {turn.index + 1}: {rendering.turn_text(t, turn, names=names)}"),
                    unsafe_allow_html=True)
    if shown == 0:
        st.info("Press **Next turn** to see the first turn.")


view.judge_turns(t, shown, first_mover=f"Debater {letter[t.first_player]}", player_colors=color, turn_log=turn_log)

if shown >= 1:
    st.divider()
    if shown < n_turns:
        st.caption(f"You have seen {shown} of {n_turns} turns: you may decide now or see more.")
    else:
        st.caption("You have seen every turn.")
    with st.form("verdict_form", clear_on_submit=False):
        st.radio("Your verdict: which claim is right?", [left_player, right_player], index=None, key="verdict",
                 format_func=lambda p: f"{letter[p]}: {claim_text(t, p)}", horizontal=True)
        open_player = next((p for p, c in enumerate(t.claims) if c is None), None)
        if open_player is not None:
            other = [c for c in range(num_classes(t)) if c != t.claims[honest]]
            st.selectbox(f"If you choose {letter[open_player]} ({claim_text(t, open_player)}): which digit is it, then?",
                         other, index=None, key="guess", placeholder="pick a digit")
        st.slider("How confident are you that the claim you chose is right? (%)", min_value=5, max_value=95,
                  value=50, step=5, key="confidence", help="50% is not allowed: pick a side.")
        st.caption(NOT_ALLOWED_50 + ".")
        st.text_area("Why? (required)", key="explanation", max_chars=2000,
                     placeholder=view.explanation_hint)
        st.form_submit_button("Submit judgment", type="primary", on_click=submit, args=(annotator,),
                              help="Keyboard: Ctrl+Enter.", **shortcut("ctrl+enter"))
    if "judge_error" in ss:
        st.error(ss.pop("judge_error"))
