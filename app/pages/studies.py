"""Studies (organisers): create a human judging study from stored debates, invite participants,
open or close it, and follow its progress. The same as ``debate study ...`` on the command line."""

from __future__ import annotations

import streamlit as st

from app.common import db_url, get_store, require_researcher, short_id, transcript_index
from debate.records.storage import StorageError
from debate.records.study_design import StudyDesign, StudyDesignError

require_researcher()
store = get_store()
ss = st.session_state
st.title("Studies")
st.caption("A study hands its debates to participants by fixed rules: practice first (with the answer), an overlap "
           "set everyone judges (for agreement), no instance twice for one person, first movers and display sides "
           "balanced per person, protocols interleaved. See docs/studies/human-judging.md.")

studies = store.list_studies()
if studies:
    st.dataframe([{"study": s["name"], "open": s["open"], "task": s["task"], "participants": s["participants"],
                   "practice": s["sets"].get("practice", 0), "overlap": s["sets"].get("overlap", 0),
                   "main": s["sets"].get("main", 0), "quota": s["design"].quota,
                   "judgments per main debate": s["design"].judgments_per_debate,
                   "judgments": store.count_judgments(study_id=s["id"], include_practice=False),
                   "created": s["created_at"][:16]} for s in studies], hide_index=True, width="stretch")
    by_id = {s["id"]: s for s in studies}
    chosen = st.selectbox("Manage", list(by_id), format_func=lambda s: by_id[s]["name"], key="manage_study")
    s = by_id[chosen]
    m1, m2 = st.columns(2)
    with m1:
        if st.button("Close the study" if s["open"] else "Open the study", key="toggle_study"):
            store.set_study_open(s["id"], not s["open"])
            st.rerun()
    with m2:
        n = st.number_input("Invitation codes to make", 1, 500, 5, key="n_invitations")
        if st.button("Make invitation codes", key="make_invitations"):
            ss["new_codes"] = store.create_invitations(s["id"], int(n))
    if ss.get("new_codes"):
        st.code("\n".join(ss["new_codes"]), language=None)
        st.caption("Each code signs one new anonymous participant into this study. Hand them out once each.")
    with st.expander("Design and instructions"):
        st.json({"filter": s["filter"], "design": s["design"].__dict__})
        st.markdown(s["instructions"] or "_(no instructions: the task's own are shown)_")
else:
    st.info("No study yet: create one below (or with `debate study create --name NAME`).")

st.header("Create a study")
index = transcript_index(db_url())
tasks = sorted({r["task"] for r in index})
if not tasks:
    st.info("No debates are stored yet: run `debate quickstart` first.")
    st.stop()
with st.form("create_study"):
    name = st.text_input("Name", max_chars=255)
    task = st.selectbox("Task", tasks)
    experiments = {e["id"]: e for e in store.list_experiments()}
    experiment_id = st.selectbox("Experiment", [None, *experiments], format_func=lambda e: "any experiment" if e is None
                                 else f"{experiments[e]['name']} ({short_id(e)})")
    protocols = sorted({r["protocol"] for r in index})
    default = [p for p in protocols if "precommit" in p and "no_precommit" not in p]
    chosen_protocols = st.multiselect("Protocols", protocols, default=default,
                                      help="Protocols whose claims name the roles are refused unless allowed below.")
    c1, c2, c3, c4 = st.columns(4)
    quota = c1.number_input("Debates per participant", 1, 10_000, 20)
    per_debate = c2.number_input("Judgments per main debate", 1, 1000, 3)
    overlap = c3.slider("Overlap share", 0.0, 1.0, 0.2, 0.05, help="Share of each quota that everyone judges.")
    practice = c4.number_input("Practice debates", 0, 100, 2)
    instructions = st.text_area("Instructions for participants", max_chars=20_000)
    allow_repeat = st.checkbox("Allow a participant to see one instance more than once")
    allow_cues = st.checkbox("Create it even where the claims or the first mover name the roles")
    seed = st.number_input("Seed", 0, 2**31 - 1, 0)
    submitted = st.form_submit_button("Create the study", type="primary")
if submitted:
    try:
        design = StudyDesign(quota=int(quota), judgments_per_debate=int(per_debate), overlap_share=float(overlap),
                             practice=int(practice), allow_repeat_instances=allow_repeat, seed=int(seed))
        made = store.create_study(name, task, design=design, experiment_id=experiment_id,
                                  protocols=chosen_protocols or None, instructions=instructions,
                                  allow_role_cues=allow_cues)
    except (StorageError, StudyDesignError) as e:
        st.error(str(e))
    else:
        st.success(f"Created study {made['name']}.")
        st.rerun()
