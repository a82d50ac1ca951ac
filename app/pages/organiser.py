"""Organisers: type the organiser passphrase (participant mode) to open the researcher pages."""

from __future__ import annotations

import streamlit as st

from app.common import check_organiser, is_researcher

st.title("Organisers")
if is_researcher():
    st.success("The researcher pages are open in this browser session (see the navigation).")
    st.stop()
st.caption("The researcher pages show the true answers, so they need the passphrase the app was started with "
           "(`debate app --organiser-password ...`). Participants do not need this page.")
with st.form("organiser_form"):
    typed = st.text_input("Organiser passphrase", type="password", key="organiser_passphrase")
    go = st.form_submit_button("Open the researcher pages")
if go:
    if check_organiser(typed or ""):
        st.rerun()  # the navigation is rebuilt with the researcher pages
    st.error("That is not the organiser passphrase.")
