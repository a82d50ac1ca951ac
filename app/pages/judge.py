"""Judge a debate: a participant of a study steps through the debates the study hands them.

The page shows only what the debaters revealed. The two debaters are "Debater A" (left, purple)
and "Debater B" (right, orange); which of them is honest, who moves first and the order of the
debates are set by the study's design (``debate.records.study_design``: blocked,
counterbalanced, interleaved), so nothing on the page tells the roles: not the wording of the
claims, not the colours, not the debate's name (a per-study alias).

After each turn the participant says how likely they think A is right (a belief curve, stored
with the judgment); the verdict is one probability that A is right (5-95%, 50% refused) and a
reason. Practice debates come first and end with the answer. Submit works from the explanation
box with Ctrl+Enter and always confirms; the last judgment can be undone for a minute; a debate
can be skipped with a reason.
"""

from __future__ import annotations

import time
import uuid

import streamlit as st

from app import views
from app.common import (NEUTRAL_COLOR_NAMES, NEUTRAL_COLORS, get_store, is_researcher, num_classes, remember_sign_in,
                        shortcut, sign_out, signed_in_annotator, swatch)
from debate.records import rendering
from debate.records.storage import StorageError
from debate.records.storage.studies import UNDO_WINDOW_S

FORM_KEYS = ("final_p", "explanation", "guess", "belief", "skip_reason", "skip_details")
SKIP_REASONS = ("The board or text does not show properly", "I cannot decide at all",
                "I think I have seen this debate before", "Other (say below)")
NOT_ALLOWED_50 = "50% is not allowed: lean towards A or B"

store = get_store()
ss = st.session_state

# less empty space above the page, so the verdict form fits beside the board at 1400 px; on a phone the
# view's columns stack: the board fills the width and the Next-turn control comes right under it
st.markdown("""<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
h1 { font-size: 2rem !important; padding-top: 0.25rem !important; }
</style>""", unsafe_allow_html=True)


# ------------------------------------------------------------------ sign-in

def sign_in_with_name() -> None:
    try:
        remember_sign_in(store.sign_in(ss.get("signin_name") or "", ss.get("signin_passphrase") or ""))
    except StorageError as e:
        ss["signin_error"] = str(e)


def sign_in_with_code() -> None:
    try:
        person = store.sign_in_with_code(ss.get("signin_code") or "")
    except StorageError as e:
        ss["signin_error"] = str(e)
        return
    remember_sign_in(person)
    ss["study_id"] = person["study_id"]
    st.query_params["study"] = person["study_id"]


def sign_in_panel() -> None:
    st.caption("Sign in to judge. Your progress is kept: you can stop and come back later.")
    by_name, by_code = st.tabs(["Name and passphrase", "Invitation code"])
    with by_name, st.form("signin_form"):  # a form: Enter in either box signs in, with both values
        st.text_input("Your name", key="signin_name", max_chars=64)
        st.text_input("Passphrase", key="signin_passphrase", type="password",
                      help="New here? Choose one (4 characters or more); you will need it to come back.")
        st.form_submit_button("Sign in", on_click=sign_in_with_name, type="primary")
    with by_code, st.form("signin_code_form"):
        st.text_input("Invitation code", key="signin_code", placeholder="e.g. 3F2A-91C0-77DE")
        st.form_submit_button("Sign in with the code", on_click=sign_in_with_code)
    if ss.get("signin_error"):
        st.error(ss.pop("signin_error"))


# ------------------------------------------------------------------ callbacks (run before the script)

def next_turn() -> None:
    a = ss.get("judge_assignment")
    if a is None:
        return
    ss.pop("judge_confirmation", None)
    ss.pop("judge_feedback", None)
    if a["turns_shown"] >= 1:  # the belief after the turn just seen
        a["beliefs"] = a["beliefs"][: a["turns_shown"] - 1] + [ss.pop("belief", 50) / 100]
    a["turns_shown"] = min(a["turns_shown"] + 1, len(a["transcript"].turns))


def submit(person: dict) -> None:
    a = ss.get("judge_assignment")
    if a is None or ss.get("submitted_nonce") == a["nonce"]:
        return  # a second submit of the same form (a key press and a click): stored once, confirmed once
    t, letter = a["transcript"], a["letter"]
    p = ss.get("final_p")
    explanation = (ss.get("explanation") or "").strip()
    if p is None or p == 50:
        ss["judge_error"] = f"{NOT_ALLOWED_50}: move the slider to say how likely you think Debater A is right."
        return
    if not explanation:
        ss["judge_error"] = "The explanation must not be blank: say in a sentence why you decided so."
        return
    chosen = a["left"] if p > 50 else a["right"]
    verdict_claim = t.claim_of(chosen)
    if verdict_claim is None:  # no claim of their own: the person names the answer they believe in
        verdict_claim = ss.get("guess")
        if verdict_claim is None:
            ss["judge_error"] = (f"You lean towards Debater {letter[chosen]}, who argues against the other's claim: "
                                 "also say which answer you think is right.")
            return
    shown = int(a["turns_shown"])
    beliefs = (a["beliefs"][: shown - 1] + [ss.get("belief", 50) / 100])[:shown]
    seconds = time.monotonic() - a["started"]
    try:
        jid = store.add_judgment(t.id, person["id"], int(verdict_claim), confidence=max(p, 100 - p) / 100,
                                 explanation=explanation, side_order=a["side_order"], seconds_spent=seconds,
                                 turns_seen=shown, mode="stepped", beliefs=beliefs)
    except StorageError as e:
        if store.count_judgments(annotator_id=person["id"], transcript_id=t.id):
            # judged meanwhile in another tab: say so in words, keep what they typed
            ss["judge_confirmation"] = (f"Debate {a['alias']} was already judged by you (in another tab or window), so "
                                        f"this second judgment was not stored. What you typed: \u201c{explanation}\u201d")
            ss["judge_assignment"] = None
            ss["submitted_nonce"] = a["nonce"]
        else:
            ss["judge_error"] = str(e)
        return
    ss["submitted_nonce"] = a["nonce"]
    side = f"Debater {letter[chosen]}"
    ss["judge_confirmation"] = (f"Saved: your judgment of debate {a['alias']} \u2014 {side} is right with {max(p, 100 - p)}% "
                                f"({seconds:.0f} s, {shown} of {len(t.turns)} turns seen).")
    if a["study_set"] == "practice":
        truth = a["left"] if t.player_of_role("honest") == a["left"] else a["right"]
        right = truth == chosen
        ss["judge_feedback"] = (right, f"Practice debate: Debater {letter[truth]} was telling the truth "
                                       f"({rendering.argued_text(t, truth, {q: f'Debater {letter[q]}' for q in letter})}). "
                                       + ("You were right." if right else "You were not right this time.")
                                       + " Practice debates do not count.")
    ss["judge_last"] = {"id": jid, "alias": a["alias"], "at": time.time()}
    ss["judge_assignment"] = None
    for k in FORM_KEYS:
        ss.pop(k, None)


def undo(person: dict) -> None:
    last = ss.get("judge_last")
    if not last:
        return
    try:
        store.undo_judgment(person["id"], last["id"])
    except StorageError as e:
        ss["judge_error"] = str(e)
        ss.pop("judge_last", None)
        return
    ss["judge_confirmation"] = f"Your judgment of debate {last['alias']} was taken back: judge it again below."
    ss.pop("judge_feedback", None)
    ss.pop("judge_last", None)
    ss["judge_assignment"] = None


def skip(person: dict) -> None:
    a = ss.get("judge_assignment")
    if a is None:
        return
    reason = ss.get("skip_reason")
    details = (ss.get("skip_details") or "").strip()
    if reason is None or (reason == SKIP_REASONS[-1] and not details):
        ss["judge_error"] = "Choose why you skip this debate (and for \u201cOther\u201d, say it in a few words)."
        return
    try:
        store.skip_debate(a["study_id"], person["id"], a["transcript"].id, f"{reason}. {details}".strip(". "))
    except StorageError as e:
        ss["judge_error"] = str(e)
        return
    ss["judge_confirmation"] = f"Skipped debate {a['alias']}; here is another one."
    ss["judge_assignment"] = None
    for k in FORM_KEYS:
        ss.pop(k, None)


# ------------------------------------------------------------------ page

st.title("Judge a debate")
person = signed_in_annotator(store)
if person is None:
    sign_in_panel()
    st.stop()
with st.sidebar:
    st.caption(f"Signed in as **{person['name']}**.")
    st.button("Sign out", key="sign_out", on_click=sign_out)

open_studies = [s for s in store.list_studies() if s["open"]]
if not open_studies:
    st.info("No study is open for judging yet." + (
        " Create one on the **Studies** page or with `debate study create --name NAME`." if is_researcher() else
        " Please come back later, or ask the study's organiser."))
    st.stop()
by_id = {s["id"]: s for s in open_studies}
if ss.get("study_id") not in by_id:
    from_url = st.query_params.get("study")
    ss["study_id"] = from_url if from_url in by_id else (open_studies[0]["id"] if len(open_studies) == 1 else None)
if len(open_studies) > 1:
    st.selectbox("Study", list(by_id), key="study_id", format_func=lambda s: by_id[s]["name"], index=None,
                 placeholder="Choose the study you take part in")
study_id = ss.get("study_id")
if study_id is None:
    st.stop()
st.query_params["study"] = study_id
study = by_id[study_id]

if ss.get("judge_confirmation"):
    st.success(ss["judge_confirmation"])
if ss.get("judge_feedback"):
    right, text = ss["judge_feedback"]
    (st.success if right else st.warning)(text)
last = ss.get("judge_last")
if last and time.time() - last["at"] < UNDO_WINDOW_S:
    st.button(f"Undo my judgment of debate {last['alias']} (for a minute)", key="undo", on_click=undo, args=(person,))

a = ss.get("judge_assignment")
if a is None or a["study_id"] != study_id or a["annotator_id"] != person["id"]:
    try:
        got = store.next_study_assignment(study_id, person["id"])
    except StorageError as e:
        st.error(str(e))
        st.stop()
    progress = store.study_progress(study_id, person["id"])
    if got is None:
        st.success(f"You have finished this study, {person['name']}: {progress['judged']} debates judged. Thank you!"
                   if progress["judged"] >= progress["quota"] else
                   "No debate is left for you in this study right now (the others are being judged). Thank you!")
        st.stop()
    t = got["transcript"]
    honest, liar = t.player_of_role("honest"), t.player_of_role("liar")
    left, right = (honest, liar) if got["side_order"] == "honest-left" else (liar, honest)
    a = ss["judge_assignment"] = {**got, "annotator_id": person["id"], "left": left, "right": right,
                                  "letter": {left: "A", right: "B"}, "turns_shown": 0, "beliefs": [],
                                  "started": time.monotonic(), "nonce": uuid.uuid4().hex, "progress": progress}
    for k in FORM_KEYS:
        ss.pop(k, None)

t, letter, progress = a["transcript"], a["letter"], a["progress"]
try:
    view = views.view_for(t.task)
except rendering.UnknownTaskError as e:
    st.error(f"Debate {a['alias']} cannot be shown here: {e}")
    st.stop()
left, right = a["left"], a["right"]
color = {left: NEUTRAL_COLORS[0], right: NEUTRAL_COLORS[1]}
color_name = {left: NEUTRAL_COLOR_NAMES[0], right: NEUTRAL_COLOR_NAMES[1]}
names = {p: f"Debater {letter[p]}" for p in letter}
n_turns, shown = len(t.turns), a["turns_shown"]

if a["study_set"] == "practice":
    st.markdown(f"**Practice debate {progress['practice_done'] + 1} of {progress['practice_total']}** \u2014 you are "
                "told the answer afterwards; it does not count.")
else:
    st.markdown(f"**Debate {progress['judged'] + 1} of {progress['quota']}** \u00b7 {study['name']}")
    st.progress(min(1.0, progress["judged"] / max(1, progress["quota"])))
with st.expander("Instructions", expanded=False):
    st.markdown(study["instructions"] or rendering.instructions(t.task))
st.markdown(f"**Debate {a['alias']}.** {rendering.judge_question(t)}")
c1, c2 = st.columns(2)
for col, p in ((c1, left), (c2, right)):
    col.markdown(swatch(color[p], f"**{rendering.argued_text(t, p, names)}** ({color_name[p]} {view.debater_mark})"),
                 unsafe_allow_html=True)


def side_panel() -> None:
    """Beside the board: the next-turn control, the belief after each turn, the turns, the verdict."""
    st.button("Next turn", key="next_turn", on_click=next_turn, disabled=shown >= n_turns, type="primary",
              help="Show the next turn (keyboard: N).", **shortcut("n"))
    if shown == 0:
        st.info("Press **Next turn** to see the first turn.")
        return
    st.slider(f"After turn {shown}: how likely is it that Debater A is right?", 0, 100, step=5, format="%d%%",
              key="belief", value=int(round(100 * a["beliefs"][-1])) if a["beliefs"] else 50,
              help="Your belief now; you can change it after every turn. It is stored with your judgment.")
    with st.container(height=120 if shown > 3 else "content", border=False):  # newest first: always in view
        for turn in reversed(t.turns[:shown]):
            st.markdown(swatch(color[turn.player], f"Turn {turn.index + 1}: {rendering.turn_text(t, turn, names=names)}"),
                        unsafe_allow_html=True)
    st.caption(f"You have seen {shown} of {n_turns} turns" + (": you may decide now or see more." if shown < n_turns
                                                              else "."))
    with st.form("verdict_form", clear_on_submit=False, border=True):
        st.slider("Your verdict: the probability that Debater A is right", 5, 95, step=5, value=50, format="%d%%",
                  key="final_p", help="Above 50%: A is right; below 50%: B is right. " + NOT_ALLOWED_50 + ".")
        open_player = next((q for q in (left, right) if t.claim_of(q) is None), None)
        if open_player is not None:
            claimed = next(t.claim_of(q) for q in (left, right) if q != open_player)
            st.selectbox(f"If Debater {letter[open_player]} is right: which answer is it, then?",
                         [c for c in range(num_classes(t)) if c != claimed], index=None, key="guess",
                         placeholder="pick one")
        st.text_area("Why? (required)", key="explanation", max_chars=2000, placeholder=view.explanation_hint, height=80,
                     help="Ctrl+Enter submits from here.")
        # no shortcut on the button: Ctrl+Enter in the explanation box already submits the form, and a
        # second trigger from a button shortcut would submit the same form again with older values
        st.form_submit_button("Submit judgment", type="primary", on_click=submit, args=(person,),
                              help="Keyboard: Ctrl+Enter in the explanation box.")
    if ss.get("judge_error"):
        st.error(ss.pop("judge_error"))


view.judge_turns(t, shown, first_mover=names[t.first_player], player_colors=color, turn_log=side_panel)

with st.expander("Skip this debate"):
    st.selectbox("Why?", SKIP_REASONS, index=None, key="skip_reason", placeholder="choose a reason")
    st.text_input("Details", key="skip_details", max_chars=400)
    st.button("Skip", key="skip", on_click=skip, args=(person,))
if shown == 0 and ss.get("judge_error"):
    st.error(ss.pop("judge_error"))
