"""The debate app: ``debate app`` (or ``streamlit run app/main.py``) with ``$DEBATE_DB`` naming the database.

Two modes. With an organiser passphrase (``debate app --organiser-password`` or
``$DEBATE_ORGANISER_PASSWORD``) it runs in *participant mode*: a participant sees only the pages
they need (judge, their progress); the researcher pages, which show the truth, open after the
passphrase is typed in the sidebar. Without one every page is open (a researcher's own machine).

Multipage: each page is a script under ``pages/``; a page whose file is missing is left out with a note.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `streamlit run app/main.py` from a checkout that is not installed
    sys.path.insert(0, str(HERE.parent))

from app.common import is_researcher, organiser_password  # noqa: E402

PARTICIPANT_PAGES = [  # (file under app/, title, default)
    ("pages/judge.py", "Judge a debate", True),
    ("pages/progress.py", "My progress", False),
]
ORGANISER_SIGN_IN = [("pages/organiser.py", "Organisers", False)]
RESEARCHER_PAGES = [
    ("pages/studies.py", "Studies", False),
    ("pages/play.py", "Play", False),
    ("pages/transcripts.py", "Transcripts", False),
    ("pages/game_tree.py", "Game tree", False),
    ("pages/results.py", "Results", False),
    ("pages/analytics.py", "Human study", False),
]

st.set_page_config(page_title="Debate simulator", layout="wide")


researcher = is_researcher()
wanted = PARTICIPANT_PAGES + (RESEARCHER_PAGES if researcher else ORGANISER_SIGN_IN)
pages, missing = [], []
for path, title, default in wanted:
    if (HERE / path).is_file():
        pages.append(st.Page(path, title=title, default=default))
    else:
        missing.append(title)
if missing:
    st.sidebar.caption(f"Not available in this installation: {', '.join(missing)}.")
if organiser_password() is None:
    st.sidebar.caption("Every page is open. To run a study with participants, start the app with "
                       "`debate app --organiser-password ...`: participants then see only the judging pages.")
st.navigation(pages).run()
