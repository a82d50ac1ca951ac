"""Game-tree page: the search tree behind one AI move, as a graph and a table of the root's children,
and (toggle "Exact tree (minimax)") the exact game tree of the same position when it is small enough.

The move is either the live game's last AI move (``st.session_state["live_last_search"]``, set by
the Play page) or a move of a stored transcript, whose position is rebuilt by replaying the
transcript and searched again with the same judge (the checkpoint directory recorded in the
transcript's ``judge`` field). The search tree is ``SearchSnapshot.view_graph``: the move the search
chose highlighted (then its own final-move rule below it), the node cap spent on that line first and
then breadth first, every value from the honest player's view; ``live.search_drawing_notes`` says
what the cap and the depth limit leave out. The exact tree is solved by ``app.live``
(``SearchSnapshot.solve_exact``, the judge scoring every final position) and cached in the session
per position: a summary, the root's moves with exact values, and a drawing only up to
``live.EXACT_DRAW_LIMIT`` states; over the state limit (``live.EXACT_MAX_NODES``, raised with a number
input up to ``live.EXACT_LIMIT_MAX``) the page says so in plain words (``live.exact_refusal``).
Runs inside the app or alone: ``streamlit run app/pages/game_tree.py``.
Environment: ``DEBATE_DB`` and ``DEBATE_APP_JUDGE`` as on the Play page.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from app.common import get_judge, get_store, require_researcher

require_researcher()  # the truth is shown here: organisers only in participant mode

from app import live, views
from debate.analysis.exact import TreeTooLargeError
from debate.analysis.search_graph import graph_to_dot

SOURCE_LIVE = "The live game's last AI move"
SOURCE_STORED = "A move of a stored transcript"
SNAPSHOT_KEY = "tree_snapshot"  # (request tuple, SearchSnapshot) of the last stored-transcript search
RECENT = 50
DEFAULT_NODE_CAP = 25  # a left-to-right tree of this many boxes stays readable at the page's width
MAX_NATURAL_RANKS = 4  # columns of boxes (root + plies) that fit the page at their natural size
EXACT_TOGGLE = "Exact tree (minimax)"
EXACT_CACHE_KEY = "tree_exact_cache"  # {position_key(): ExactSolution, the TreeTooLargeError, or why not}
EXACT_LIMIT_KEY = "tree_exact_limit"  # the state limit a person set after a refusal
EXACT_CACHE_SIZE = 8  # positions whose exact solutions a session keeps


def recent_transcripts(store, limit: int = RECENT) -> list[dict]:
    """The newest transcripts (id, protocol, debaters, time), newest first, without reading bodies."""
    import sqlalchemy as sa

    from debate.records.storage import transcripts

    stmt = (sa.select(transcripts.c.id, transcripts.c.protocol, transcripts.c.created_at, transcripts.c.num_turns)
            .where(transcripts.c.task.in_(views.searchable_tasks()))
            .order_by(transcripts.c.created_at.desc(), transcripts.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        conn.execution_options(debate_readonly=True)  # a plain read transaction, as Store's own reads
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    players = store.players_of(r["id"] for r in rows)  # one row per debater (transcript_players)
    for r in rows:
        for role in ("honest", "liar"):
            r[f"{role}_debater"] = next((p["debater"] for p in players.get(r["id"], []) if p["role"] == role), None)
    return rows


def find_transcript(store, text: str):
    """A transcript by full id, or by a unique id prefix of at least 6 characters; None if absent."""
    import sqlalchemy as sa

    from debate.records.storage import transcripts

    text = text.strip()
    found = store.get_transcript(text)
    if found is not None or len(text) < 6:
        return found
    stmt = sa.select(transcripts.c.id).where(transcripts.c.id.like(text + "%")).limit(2)
    with store.engine.connect() as conn:
        conn.execution_options(debate_readonly=True)
        ids = list(conn.execute(stmt).scalars())
    return store.get_transcript(ids[0]) if len(ids) == 1 else None


def judge_for(transcript) -> live.AppJudge | None:
    """The judge a transcript was played with, or None (after saying why) when it is not here."""
    from training.checkpoints import CheckpointError

    app_checkpoint = os.environ.get(live.APP_JUDGE_ENV) or None
    try:
        app_judge = get_judge(app_checkpoint)
        if app_judge.name == transcript.judge:
            return app_judge
    except (CheckpointError, ValueError):
        pass
    path = Path(transcript.judge).expanduser() if transcript.judge else None
    if path is None or not path.is_dir():
        st.error(f"The judge of this transcript ({transcript.judge or 'unnamed'}) is not available: it is not a "
                 "checkpoint directory on this machine, so its search cannot be re-run. Copy the checkpoint "
                 "to that path or pick another transcript.")
        return None
    try:
        return get_judge(str(path))
    except (CheckpointError, ValueError) as e:
        st.error(f"The judge of this transcript could not be loaded: {e}")
        return None


def stored_snapshot() -> live.SearchSnapshot | None:
    from debate.records.storage import StorageError

    try:
        store = get_store()
        recent = recent_transcripts(store)
    except StorageError as e:
        st.error(f"The database could not be read: {e}")
        return None
    if not recent:
        st.info(f"No {views.task_labels(views.searchable_tasks())} transcripts are stored yet: play a game on the "
                "Play page first.")
        return None
    labels = {r["id"]: f"{r['id'][:8]}  {r['protocol']}  honest {r['honest_debater']} vs liar {r['liar_debater']}"
                       f"  ({r['created_at'][:19].replace('T', ' ')})" for r in recent}
    default_id = st.session_state.get(live.SESSION_LAST_TRANSCRIPT_KEY)
    ids = list(labels)
    index = ids.index(default_id) if default_id in labels else 0
    choice = st.selectbox(f"Transcript (the {len(ids)} newest; the latest first)", ids, index=index,
                          format_func=labels.get, key="tree_transcript")
    typed = st.text_input("... or a transcript id (or its first 6+ characters)", key="tree_id").strip()
    transcript = find_transcript(store, typed) if typed else store.get_transcript(choice)
    if transcript is None:
        st.error(f"No stored transcript has the id {typed!r}; check it on the Transcripts page.")
        return None
    if not views.view_for(transcript).searchable:
        st.info(f"Transcript {transcript.id[:8]} is a {transcript.task} debate: game trees are drawn for "
                f"{views.task_labels(views.searchable_tasks())} debates only. Its turns are on the Transcripts page.")
        return None
    if not transcript.turns:
        st.info("This transcript has no moves (it is not a debate).")
        return None
    judge = judge_for(transcript)
    if judge is None:
        return None

    turns = transcript.turns
    ai_moves = [t.index for t in turns if not transcript.debaters[t.player].startswith("human:")]
    c1, c2 = st.columns(2)
    move = c1.number_input(f"Move to search (1..{len(turns)})", min_value=1, max_value=len(turns),
                           value=(ai_moves[0] if ai_moves else 0) + 1, key=f"tree_move_{transcript.id}")
    mover = turns[move - 1].player
    parsed = live.parse_mcts_name(transcript.debaters[mover])
    sims = c2.number_input("Search simulations", min_value=1, max_value=4096, value=parsed[1] if parsed else 64,
                           key=f"tree_sims_{transcript.id}",
                           help="The mover's own setting when it was an MCTS debater; a human mover gets 64.")
    request = (transcript.id, int(move), int(sims), judge.name)
    cached = st.session_state.get(SNAPSHOT_KEY)
    if cached is not None and cached[0] == request:
        return cached[1]
    try:
        with st.spinner("Replaying the transcript and searching that position..."):
            snapshot = live.search_transcript_position(judge, transcript, int(move) - 1, simulations=int(sims))
    except ValueError as e:
        st.error(f"This move cannot be searched again: {e}")
        return None
    st.session_state[SNAPSHOT_KEY] = (request, snapshot)
    return snapshot


def show_snapshot(snapshot: live.SearchSnapshot) -> None:
    role = live.ROLES[snapshot.root_player]
    picked = snapshot.action_label(snapshot.action)
    text = (f"Position after {snapshot.turn} move(s); the {role} player to move. {snapshot.debater} picks pixel "
            f"**{picked}**")
    played = snapshot.played_label()
    if played is not None:
        text += (f"; the game played **{played}** too" if played == picked
                 else f"; the game played **{played}**")
    st.markdown(text + ".")
    exact = st.toggle(EXACT_TOGGLE, key="tree_exact",
                      help=f"Also solve this position exactly (every move, the judge scoring every final position) "
                           f"when its tree has at most {live.EXACT_MAX_NODES:,} states; a bigger one offers a higher "
                           "limit.")
    if not exact:
        show_search_tree(snapshot)
        return
    search_tab, exact_tab = st.tabs(["Search tree (MCTS)", EXACT_TOGGLE])
    with search_tab:
        show_search_tree(snapshot)
    with exact_tab:
        show_exact_tree(snapshot)


def exact_solution(snapshot: live.SearchSnapshot, limit: int) -> live.ExactSolution | TreeTooLargeError | str:
    """The exact solution of the snapshot's position under a state limit, the ``TreeTooLargeError``
    that refused it, or the sentence saying why there is none; cached in the session per position
    (the judge scores every leaf, so a rerun must not solve again). A refusal is retried only under
    a higher limit."""
    cache = st.session_state.setdefault(EXACT_CACHE_KEY, {})
    key = snapshot.position_key()
    cached = cache.get(key)
    if cached is None or (isinstance(cached, TreeTooLargeError) and limit > (cached.limit or 0)):
        try:
            with st.spinner("Solving the exact game tree (the judge scores every final position)..."):
                cache[key] = snapshot.solve_exact(max_nodes=limit, draw_nodes=live.EXACT_DRAW_LIMIT)
        except TreeTooLargeError as e:
            cache[key] = e
        except ValueError as e:
            cache[key] = str(e)
        while len(cache) > EXACT_CACHE_SIZE:
            cache.pop(next(iter(cache)))
    return cache[key]


def show_exact_refusal(error: TreeTooLargeError, snapshot: live.SearchSnapshot) -> None:
    st.info(live.exact_refusal(error, reveals_left=snapshot.num_reveals - snapshot.turn,
                               max_limit=live.EXACT_LIMIT_MAX))
    if error.is_bound and error.states is not None and error.states > live.EXACT_LIMIT_MAX:
        return  # no limit offered here would do
    st.number_input("Most positions to solve exactly", min_value=1_000, max_value=live.EXACT_LIMIT_MAX,
                    value=live.EXACT_MAX_NODES, step=10_000, key=EXACT_LIMIT_KEY,
                    help="The exact solver refuses a position whose game tree can have more distinct positions "
                         f"than this (at most {live.EXACT_LIMIT_MAX:,}). Every final position is scored by the judge, "
                         "so the time grows with it: about 20 s for 30,000 positions, 80 s for 175,000.")


def show_exact_tree(snapshot: live.SearchSnapshot) -> None:
    solution = exact_solution(snapshot, int(st.session_state.get(EXACT_LIMIT_KEY, live.EXACT_MAX_NODES)))
    if isinstance(solution, TreeTooLargeError):
        show_exact_refusal(solution, snapshot)
        return
    if isinstance(solution, str):
        st.info(f"The exact tree of this position is not solved: {solution}")
        return
    st.markdown(solution.summary_markdown())
    moves = solution.root_moves()
    if moves:
        st.markdown(f"**The {live.ROLES[solution.root_player]} player's moves here** (exact value after each, "
                    "honest player's view: +1 = the honest player wins with best play; optimal moves first)")
        st.dataframe(moves, hide_index=True, width="stretch")
    if not solution.drawable:
        st.caption(f"The whole tree ({solution.num_states:,} states) is not drawn: the page draws exact trees of at "
                   f"most {live.EXACT_DRAW_LIMIT} states, and a bigger drawing cannot be read. Its value, principal "
                   "variation and the value of every move of the root are above; pick a later move (fewer pixels "
                   "left to reveal) to see a tree drawn.")
        return
    graph = solution.graph
    ranks = 1 + max((d for _, d in graph.nodes(data="depth")), default=0)
    st.graphviz_chart(graph_to_dot(graph), width="content" if ranks <= MAX_NATURAL_RANKS else "stretch")
    st.caption(f"The whole tree ({solution.num_states} states), the root on the left. States with the same revealed "
               "pixels are one box (the tree is a DAG); each box: the pixel revealed to reach it, who moves next (or "
               "who won, with the judge's honest margin), and V, the exact value from the honest player's view (+1: "
               "the honest player wins with best play). Red: the principal variation (best play by both sides, the "
               "lowest optimal move at each state).")


#: How the highlighted line continues below the root, per search algorithm (``SearchSnapshot.algorithm``).
LINE_RULES = {
    "gumbel": "the most visited move, ties broken by prior plus completed q as Gumbel MuZero picks its own move",
    "muzero": "the most visited move, ties to the lower candidate index (the brighter pixel) as the PUCT debater "
              "picks its own move",
}


def show_search_tree(snapshot: live.SearchSnapshot) -> None:
    plies_left = max(1, snapshot.num_reveals - snapshot.turn)
    c1, c2 = st.columns(2)
    if plies_left > 1:
        depth = c1.slider("Depth limit (plies below the root)", 1, plies_left, min(2, plies_left), key="tree_depth",
                          help="How many moves below this position are drawn. The search itself may stop "
                               "shallower (with few simulations it mostly tries the root's moves).")
    else:
        depth = 1
        c1.markdown("Depth: 1 ply (the last move of the game).")
    nodes = c2.slider("Node cap", 5, 500, DEFAULT_NODE_CAP, step=5, key="tree_nodes",
                      help="The most boxes drawn. The highlighted line is always drawn down to the depth limit; the "
                           "rest of the cap goes to the most visited nodes, one depth at a time from the root, so a "
                           "root with many children can fill it at depth 1. More nodes make the boxes smaller.")
    graph = snapshot.view_graph(max_depth=int(depth), max_nodes=int(nodes))
    # Drawn at its natural size (10 pt text) while it fits the page; a deeper tree is shrunk to the page width.
    ranks = 1 + max((d for _, d in graph.nodes(data="depth")), default=0)
    st.graphviz_chart(graph_to_dot(graph), width="content" if ranks <= MAX_NATURAL_RANKS else "stretch")
    rule = LINE_RULES.get(snapshot.algorithm, LINE_RULES["gumbel"])
    st.caption(f"Showing {len(graph)} of {graph.graph['total_nodes']} expanded nodes, the root on the left. All values "
               "are from the honest player's view: +1 = the honest player wins, -1 = the liar wins. Each box: the "
               "pixel (row, column) revealed, visits N, V (the search's value of that position), prior P; each edge: "
               "q (the search's value of that move, so it equals the V of the box it leads to). Red: the move the "
               f"search chose, **{snapshot.action_label(snapshot.action)}**, then at each node below it {rule}.")
    for note in live.search_drawing_notes(graph):
        st.caption(note)
    st.markdown("**The root's children** (most visited first; q from the honest player's view"
                + ("; played: the move the game made" if snapshot.played_action is not None else "") + ")")
    st.dataframe(snapshot.root_children(), hide_index=True, width="stretch")


def main() -> None:
    st.title("Game tree")
    st.write("The Monte Carlo tree search behind one AI move: which pixels it tried, how often, and what "
             f"the judge made of them. Switch on *{EXACT_TOGGLE}* to see the exact game tree of the same "
             "position beside it (small positions only): who wins with best play, and whether the move was optimal.")
    live_snapshot = st.session_state.get(live.SESSION_LAST_SEARCH_KEY)
    sources = [SOURCE_STORED] if live_snapshot is None else [SOURCE_LIVE, SOURCE_STORED]
    source = st.radio("Search of", sources, key="tree_source", horizontal=True)
    if source == SOURCE_LIVE:
        show_snapshot(live_snapshot)
        return
    snapshot = stored_snapshot()
    if snapshot is not None:
        show_snapshot(snapshot)


main()
