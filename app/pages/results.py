"""Results of reproductions and tournaments: every results.json and leaderboard.json under the chosen
folders, and a comparison across reproduction runs."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from app.common import require_researcher
from app.common import default_results_dirs
from training.irving2018 import find_results_files, load_results, results_rows
from training.ratings import rating_rows
from training.tournament import find_leaderboard_files, head_to_head_matrix, load_leaderboard

require_researcher()
st.title("Results")
st.caption("Runs of `debate reproduce irving2018` and `debate quickstart` (their results.json). Accuracy is the "
           "share of images the honest side wins; ci95 is the 95% Wilson interval. Other studies (a results.json "
           "with a results.md beside it) follow, then tournaments of `debate tournament` (their leaderboard.json), "
           "rated.")

dirs_text = st.text_input(f"Folders to search (separated by {os.pathsep!r}; or set DEBATE_RESULTS_DIRS)",
                          value=os.pathsep.join(default_results_dirs()), key="results_dirs")
dirs = [d.strip() for d in dirs_text.split(os.pathsep) if d.strip()]
files = find_results_files(dirs)
board_files = find_leaderboard_files(dirs)
if not files and not board_files:
    st.info("No results.json found under " + ", ".join(f"`{d}`" for d in dirs) + " (and no leaderboard.json). Run "
            "`debate quickstart` (writes ./debate-results/quickstart), `debate reproduce irving2018` or "
            "`debate tournament`, or change the folders above.")
    st.stop()


def run_label(path: Path) -> str:
    for d in dirs:
        try:
            return str(path.relative_to(Path(d).expanduser().resolve()).parent) or path.parent.name
        except ValueError:
            continue
    return str(path.parent)


runs, all_rows, studies = {}, [], {}
for path in files:
    label = run_label(path)
    if label in (".", ""):
        label = path.parent.name
    try:
        results = load_results(path)
    except ValueError as e:
        # Other studies (recursive debate, RRM, debater strength, ...) write results.md beside their
        # results.json: show that; anything else is a broken file.
        if path.with_name("results.md").is_file():
            studies[label] = path
        else:
            st.warning(str(e))
        continue
    runs[label] = (path, results)
    all_rows += [{"run": label, **row} for row in results_rows(results)]
if runs:
    st.subheader(f"{len(runs)} run(s)")
for label, (path, results) in runs.items():
    with st.expander(f"{label} — {results.get('experiment', '')}", expanded=len(runs) == 1):
        cfg = results.get("config", {})
        summary = {k: cfg.get(k) for k in ("pixels", "images", "simulations", "algorithm", "seeds_per_lie",
                                            "judge_architecture", "judge_steps", "dataset", "seed") if k in cfg}
        st.markdown(" · ".join(f"**{k}** {v}" for k, v in summary.items()))
        if results.get("data"):
            st.caption(results["data"])
        st.caption(f"{path} · wall time {results.get('wall_seconds', '?')} s · code "
                   f"{results.get('provenance', {}).get('code_version', '?')}")
        rows = results_rows(results)
        st.dataframe(pd.DataFrame([{"K": r["K"], "condition": r["condition"], "accuracy": r["accuracy"],
                                    "ci95": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r["ci_low"] is not None
                                    else "", "n": r["n"], "paper": r["paper"]} for r in rows]),
                     hide_index=True, width="stretch")
        for k, by_k in results["by_k"].items():
            extra = [f"K={k}"]
            for name, field in (("precommit mean", "precommit_mean"), ("no-precommit mean", "no_precommit_mean")):
                if by_k.get(field) is not None:
                    extra.append(f"{name} {by_k[field]:.3f}")
            if by_k.get("simulations_per_second"):
                extra.append(f"{by_k['simulations_per_second']} simulations/s")
            st.caption(" · ".join(extra))
        png = path.with_name("results.png")
        if png.is_file():
            st.image(str(png))

if len(runs) >= 2:
    st.subheader("Comparison across runs")
    frame = pd.DataFrame(all_rows)
    frame["K / condition"] = "K=" + frame["K"].astype(str) + " " + frame["condition"].astype(str)
    shared = frame.groupby("K / condition")["run"].nunique()
    conditions = sorted(shared[shared >= 2].index)
    if not conditions:
        st.info("No condition appears in two runs.")
    else:
        picked = st.multiselect("Conditions", conditions, default=conditions, key="compare_conditions")
        pivot = frame[frame["K / condition"].isin(picked)].pivot_table(index="K / condition", columns="run",
                                                                       values="accuracy", aggfunc="first")
        st.dataframe(pivot, width="stretch")
        if not pivot.empty:
            st.bar_chart(pivot, stack=False, y_label="accuracy")


if studies:
    st.subheader(f"{len(studies)} other stud{'y' if len(studies) == 1 else 'ies'}")
    for label, path in studies.items():
        with st.expander(label):
            st.markdown(path.with_name("results.md").read_text())
            png = path.with_name("results.png")
            if png.is_file():
                st.image(str(png))
            st.caption(str(path))


# ----------------------------------------------------------------------------------- tournaments


def _interval(low, high) -> str:
    return f"[{low:.0f}, {high:.0f}]" if low is not None and high is not None else ""


boards = {}
for path in board_files:
    label = run_label(path)
    if label in (".", ""):
        label = path.parent.name
    try:
        boards[label] = (path, load_leaderboard(path))
    except ValueError as e:
        st.warning(str(e))
if boards:
    st.subheader(f"{len(boards)} tournament leaderboard(s)")
    st.caption("Bradley-Terry ratings on the Elo scale with 95% bootstrap intervals over games. Honest and liar "
               "ratings share one scale: honest A beats liar B with probability 1 / (1 + 10^((liar B - honest A) / 400)).")
for label, (path, board) in boards.items():
    ratings = board["ratings"]
    with st.expander(f"{label} — tournament of {', '.join(ratings['debaters'])}", expanded=len(boards) == 1):
        cfg = board.get("config", {})
        summary = {k: cfg.get(k) for k in ("games", "pixels", "seed", "bootstrap") if k in cfg}
        summary["games played"] = ratings.get("games")
        st.markdown(" · ".join(f"**{k}** {v}" for k, v in summary.items()))
        anchor = ratings.get("anchor")
        st.caption((f"anchored at {anchor} = 1000" if anchor and anchor != "mean" else "mean rating 1000")
                   + (f" · {board['data']}" if board.get("data") else "")
                   + (f" · {board['judge']['description']}" if isinstance(board.get("judge"), dict) else ""))
        st.caption(f"{path} · wall time {board.get('wall_seconds', '?')} s · code "
                   f"{board.get('provenance', {}).get('code_version', '?')}")
        rows = rating_rows(ratings)
        st.dataframe(pd.DataFrame([{
            "debater": r["debater"], "Elo": r["elo"], "Elo 95% CI": _interval(r["elo_low"], r["elo_high"]),
            "honest Elo": r["honest_elo"], "honest 95% CI": _interval(r["honest_low"], r["honest_high"]),
            "liar Elo": r["liar_elo"], "liar 95% CI": _interval(r["liar_low"], r["liar_high"]),
            "games": r["games"], "wins": r["wins"], "sequential Elo": r["sequential_elo"],
            "note": r["perfect_record"] or ""} for r in rows]),
            hide_index=True, width="stretch", key=f"leaderboard_{label}")
        if any(r["perfect_record"] for r in rows):
            st.caption("note: a debater (or side) that won or lost every game has a rating set by the regularisation "
                       "and the number of games, not by a measured strength.")
        matrix = head_to_head_matrix(board)
        if any(v is not None for row in matrix.values() for v in row.values()):
            st.caption("Head to head: the honest side's win rate, rows honest debater, columns liar debater.")
            st.dataframe(pd.DataFrame(matrix).T.rename_axis("honest \\ liar"), width="stretch",
                         key=f"head_to_head_{label}")
