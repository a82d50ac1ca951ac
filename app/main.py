"""The debate app: ``debate app`` (or ``streamlit run app/main.py``) with ``$DEBATE_DB`` naming the database.

Multipage: each page is a script under ``pages/``; a page whose file is missing is left out with a note.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `streamlit run app/main.py` from a checkout that is not installed
    sys.path.insert(0, str(HERE.parent))

PAGES = [  # (file under app/, title, default)
    ("pages/judge.py", "Judge a debate", True),
    ("pages/play.py", "Play", False),
    ("pages/transcripts.py", "Transcripts", False),
    ("pages/game_tree.py", "Game tree", False),
    ("pages/results.py", "Results", False),
    ("pages/analytics.py", "Human study", False),
]

st.set_page_config(page_title="Debate simulator", layout="wide")

pages, missing = [], []
for path, title, default in PAGES:
    if (HERE / path).is_file():
        pages.append(st.Page(path, title=title, default=default))
    else:
        missing.append(title)
if missing:
    st.sidebar.caption(f"Not available in this installation: {', '.join(missing)}.")
st.navigation(pages).run()
