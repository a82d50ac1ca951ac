"""My progress: a participant's own progress in each study they take part in (nothing about the truth)."""

from __future__ import annotations

import streamlit as st

from app.common import get_store, signed_in_annotator

store = get_store()
st.title("My progress")
person = signed_in_annotator(store)
if person is None:
    st.info("Sign in on the **Judge a debate** page to see your progress.")
    st.stop()

studies = [s for s in store.list_studies()]
rows = []
for s in studies:
    p = store.study_progress(s["id"], person["id"])
    if p["judged"] or p["practice_done"] or p["skipped"]:
        rows.append({"study": s["name"], "practice": f"{p['practice_done']} of {p['practice_total']}",
                     "judged": f"{p['judged']} of {p['quota']}", "skipped": p["skipped"],
                     "status": "finished" if p["judged"] >= p["quota"] else ("open" if s["open"] else "closed")})
if not rows:
    st.info(f"Nothing judged yet, {person['name']}: start on the **Judge a debate** page.")
    st.stop()
st.dataframe(rows, hide_index=True, width="stretch")
mine = store.query_judgments(annotator_id=person["id"])
st.caption(f"{len(mine)} judgments stored under your name (practice not counted). Thank you!")
