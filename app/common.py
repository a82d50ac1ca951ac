"""Glue shared by the app's pages: the cached Store, the colours and small formatting helpers.

UI only: whatever computes something lives in the library (debate/, judges/, training/). Whatever
draws one task lives in that task's view module, ``app/views/<task>.py`` (see ``app.views``).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from debate.records import rendering
from debate.records.storage import StorageError, Store
from debate.records.transcript import Transcript

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The colours of the two roles, used on every page that shows who is honest (boards, charts, legends):
#: matplotlib's tab:blue for the honest debater and tab:red for the liar.
ROLE_COLORS = {"honest": (31, 119, 180), "liar": (214, 39, 40)}
#: The colours of "Debater A" and "Debater B" where the roles are hidden (the judging page, the Play
#: page while a person judges): tab:purple and tab:orange, neither of them a role colour.
NEUTRAL_COLORS = [(148, 103, 189), (255, 127, 14)]
NEUTRAL_COLOR_NAMES = ["purple", "orange"]
#: Hidden parts of a board: a pale blue-grey tint with darker diagonal hatching, unlike anything revealed.
HIDDEN = (196, 208, 232)
HIDDEN_HATCH = (150, 166, 204)
GRID = (120, 120, 128)
#: Boards' surroundings: the margin with the row and column numbers, and the numbers' colour.
BOARD_MARGIN = (255, 255, 255)
BOARD_LABEL = (60, 60, 72)
#: The ring around the newest revealed square: gold with a dark outer edge, unlike any player's colour.
NEWEST = (255, 204, 0)
NEWEST_EDGE = (20, 20, 20)


def hex_color(color: tuple[int, int, int]) -> str:
    """``(31, 119, 180)`` -> ``"#1f77b4"`` (for charts and HTML)."""
    return "#{:02x}{:02x}{:02x}".format(*color)


def role_color(role: str | None) -> tuple[int, int, int]:
    """The colour of a role ("honest"/"liar"); grey for anything else."""
    return ROLE_COLORS.get(role or "", (127, 127, 127))


def db_url() -> str | None:
    """The database the app uses: ``$DEBATE_DB`` (set by ``debate app --db``), else the default."""
    return os.environ.get("DEBATE_DB") or None


@st.cache_resource(show_spinner=False)
def _store_for(url: str | None) -> Store:
    # a Store owns a SQLAlchemy engine: per-thread pooled connections, safe across browser sessions
    return Store(url)


@st.cache_resource(show_spinner="Loading the judge (on a fresh machine a small one is trained first: about 10 s, then cached)...")
def get_judge(checkpoint: str | None):
    """The judge for live play and re-searched trees, cached per checkpoint (None: the app's default)."""
    from app import live

    return live.load_app_judge(checkpoint)


def get_store() -> Store:
    """The Store for ``$DEBATE_DB``, cached per URL; stops the page with a clear error if unusable."""
    try:
        return _store_for(db_url())
    except StorageError as e:
        st.error(f"The database cannot be opened: {e}")
        st.stop()


def swatch(color: tuple[int, int, int], text: str) -> str:
    """Markdown-safe HTML: a coloured square followed by ``text``."""
    r, g, b = color
    return (f'<span style="display:inline-block;width:0.9em;height:0.9em;background:rgb({r},{g},{b});'
            f'border-radius:2px;margin-right:0.35em;vertical-align:-0.1em"></span>{text}')


def short_id(transcript_id: str) -> str:
    return transcript_id[:8]


def claim_text(transcript: Transcript, player: int) -> str:
    """What a player argues, for people ("3", "not 3", "x_8 = 17"): the task's renderer says, see
    ``debate.records.rendering``."""
    return rendering.claim_text(transcript, player)


def num_classes(transcript: Transcript, default: int = 10) -> int:
    probs = next((t.judge_class_probs for t in transcript.turns if t.judge_class_probs), None)
    return len(probs) if probs else default


def default_results_dirs() -> list[str]:
    """``$DEBATE_RESULTS_DIRS`` (separated by the OS path separator), else the project's
    ``experiments/`` folder and ``./debate-results``."""
    env = os.environ.get("DEBATE_RESULTS_DIRS", "").strip()
    if env:
        return [p for p in env.split(os.pathsep) if p.strip()]
    return [str(PROJECT_ROOT / "experiments"), str(Path.cwd() / "debate-results")]


def shortcut(key: str) -> dict:
    """``{"shortcut": key}`` where this Streamlit's buttons take keyboard shortcuts (1.5x+), else ``{}``."""
    import inspect

    return {"shortcut": key} if "shortcut" in inspect.signature(st.button).parameters else {}


def transcript_index(url: str | None) -> list[dict]:
    """One summary row per stored transcript (no turns, no image), oldest first.

    Cached per database and number of stored transcripts, so a newly stored debate shows at once."""
    return _transcript_index(url, _store_for(url).count_transcripts())


@st.cache_data(ttl=300, show_spinner=False, max_entries=8)
def _transcript_index(url: str | None, count: int) -> list[dict]:
    rows = []
    for t in _store_for(url).iter_transcripts():
        rows.append({
            "id": t.id, "experiment_id": t.experiment, "task": t.task, "protocol": t.protocol,
            "instance_id": t.instance_id, "honest_debater": t.debater_of_role("honest"),
            "liar_debater": t.debater_of_role("liar"), "debaters": t.debaters, "judge": t.judge, "winner_role": t.winner_role,
            "ground_truth": t.ground_truth, "claims": ", ".join("-" if c is None else str(c) for c in t.claims),
            "turns": len(t.turns), "created_at": t.created_at,
        })
    return rows


# ------------------------------------------------------------------ participant and researcher mode

#: The environment variable ``debate app --organiser-password`` sets (participant mode when set).
ORGANISER_ENV = "DEBATE_ORGANISER_PASSWORD"
#: Query parameter that keeps a participant signed in across reloads (a token from Store.sign_in).
TOKEN_PARAM = "s"


def organiser_password() -> str | None:
    return os.environ.get(ORGANISER_ENV) or None


def is_researcher() -> bool:
    """True where the researcher pages may be shown: no organiser passphrase is set (a researcher's
    own machine), or this browser session typed it."""
    return organiser_password() is None or bool(st.session_state.get("organiser_signed_in"))


def check_organiser(typed: str) -> bool:
    import hmac

    expected = organiser_password()
    ok = expected is not None and hmac.compare_digest(typed.encode("utf-8"), expected.encode("utf-8"))
    if ok:
        st.session_state["organiser_signed_in"] = True
    return ok


def require_researcher() -> None:
    """Stop a researcher page for a participant (a second guard: the navigation already hides it)."""
    if not is_researcher():
        st.warning("This page is for the study's organisers: type the organiser passphrase on the Organisers page to open it.")
        st.stop()


def signed_in_annotator(store: Store) -> dict | None:
    """The participant of this browser session: from the session, else from the token in the URL
    (so a reload keeps them signed in)."""
    ss = st.session_state
    if ss.get("annotator"):
        return ss["annotator"]
    token = st.query_params.get(TOKEN_PARAM)
    person = store.annotator_for_token(token) if token else None
    if person is not None:
        ss["annotator"] = person
    return person


def remember_sign_in(person: dict) -> None:
    st.session_state["annotator"] = person
    st.query_params[TOKEN_PARAM] = person["token"]


def sign_out() -> None:
    for k in ("annotator", "study_id", "judge_assignment", "judge_confirmation"):
        st.session_state.pop(k, None)
    st.query_params.pop(TOKEN_PARAM, None)
    st.query_params.pop("study", None)
