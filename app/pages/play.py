"""Play page: debate the AI yourself, or watch (and judge) two AIs debate, one pixel at a time.

Runs inside the app (``st.navigation`` in app/main.py) or alone: ``streamlit run app/pages/play.py``.
All game logic lives in ``app.live``; this page only draws.

Environment: ``DEBATE_DB`` (database URL, default the SQLite file of ``debate.records.storage``) and
``DEBATE_APP_JUDGE`` (a judge checkpoint directory; unset: the app's small default judge on 8x8
digits, trained once and cached). Session state shared with the Game-tree page:
``live.SESSION_GAME_KEY`` ("live_debate"), ``live.SESSION_LAST_SEARCH_KEY`` ("live_last_search"),
``live.SESSION_LAST_TRANSCRIPT_KEY`` ("live_last_transcript_id").
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from app.common import get_judge, get_store

from app.common import NEUTRAL_COLORS as _NEUTRAL_RGB
from app.common import HIDDEN, ROLE_COLORS, hex_color
from app import live
HONEST, LIAR, NO_CLAIM = live.HONEST, live.LIAR, live.NO_CLAIM  # the live game's players and "no claim"

MODE_PLAY = "Play against the AI"
MODE_WATCH = "Watch / judge an AI-vs-AI debate"
LIE_RANDOM = "a random wrong class"
LIE_NONE = "no precommitment (any other class)"
SIDE_COLORS = {HONEST: hex_color(ROLE_COLORS["honest"]), LIAR: hex_color(ROLE_COLORS["liar"])}  # as on every page
NEUTRAL_COLORS = tuple(hex_color(c) for c in _NEUTRAL_RGB)  # first mover, second mover, when the roles are hidden
ERROR_KEY = "play_error"
STORED_FOR_KEY = "play_stored_for"
STEPS_KEY = "play_steps_requested"


# ----------------------------------------------------------------------------- cached resources


@st.cache_resource(show_spinner="Loading the images...")
def get_images(_judge: live.AppJudge, dataset: str):
    """The images ``_judge`` plays on, cached per ``dataset`` (its ``judge.dataset``)."""
    return _judge.load_images()


# ----------------------------------------------------------------------------- drawing


def board_figure(image: np.ndarray, revealed: list[tuple[int, int, int]], show_hidden: bool, colors: dict,
                 title: str):
    """The board as a matplotlib figure: ink dark on white; hidden pixels pale blue-grey when the
    viewer may not see them; each revealed pixel framed in its revealer's colour with its turn number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    h, w = image.shape
    ink = 1.0 - image.astype(np.float32) / 255.0
    rgb = np.repeat(ink[..., None], 3, axis=2)
    if not show_hidden:
        rgb[:] = np.asarray(HIDDEN, np.float32) / 255.0  # the hidden tint of the other pages' boards
        for row, col, _ in revealed:
            rgb[row, col] = ink[row, col]
    size = 3.6 if h <= 8 else 4.6
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rgb, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    for turn, (row, col, player) in enumerate(revealed):
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=colors[player],
                               linewidth=3 if h <= 8 else 2))
        ax.text(col, row, str(turn + 1), ha="center", va="center", fontsize=8 if h <= 8 else 5,
                color="white", fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.15", facecolor=colors[player], edgecolor="none"))
    step = 1 if h <= 10 else 2 if h <= 16 else 4
    ax.set_xticks(range(0, w, step))
    ax.set_yticks(range(0, h, step))
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="#bbbbbb", linewidth=0.4)
    ax.tick_params(which="both", length=0, labelsize=8)
    ax.xaxis.tick_top()
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title(title, fontsize=10, pad=18)
    fig.tight_layout()
    return fig


def show_figure(fig) -> None:
    import matplotlib.pyplot as plt

    st.pyplot(fig, clear_figure=True)
    plt.close(fig)


def claim_text(claim: int | None) -> str:
    return "any other class" if claim is None else f"class {claim}"


def side_labels(game: live.LiveDebate, hide_roles: bool) -> tuple[dict, dict]:
    """Display name and colour of each player id; with hidden roles, 'Debater A' moves first."""
    if not hide_roles:
        names = {p: f"{live.ROLES[p]} ({claim_text(game.claims[p])})" for p in (HONEST, LIAR)}
        if game.human_player is not None:
            names[game.human_player] = f"you, {names[game.human_player]}"
        return names, dict(SIDE_COLORS)
    first, second = game.first_player, 1 - game.first_player
    names = {first: f"Debater A ({claim_text(game.claims[first])})",
             second: f"Debater B ({claim_text(game.claims[second])})"}
    return names, {first: NEUTRAL_COLORS[0], second: NEUTRAL_COLORS[1]}


# ----------------------------------------------------------------------------- callbacks


def new_game(judge: live.AppJudge, images) -> None:
    ss = st.session_state
    try:
        index = int(ss["play_index"])
        image, label = images.images[index], int(images.labels[index])
        task = judge.make_task(int(ss["play_k"]))
        lie = ss["play_lie"]
        if lie == LIE_NONE:
            liar_claim = NO_CLAIM
        elif lie == LIE_RANDOM:
            rng = np.random.default_rng(int(ss["play_seed"]) * 100_003 + index)
            liar_claim = int(rng.choice([c for c in range(task.num_classes) if c != label]))
        else:
            liar_claim = int(lie)
        human_role = ss["play_role"] if ss["play_mode"] == MODE_PLAY else None
        debater = live.cached_mcts_debater(task, judge.judge_fn, int(ss["play_sims"]))
        ss[live.SESSION_GAME_KEY] = live.LiveDebate(
            task, judge.judge_fn, judge.params, image, label, liar_claim=liar_claim,
            first_player=HONEST if ss["play_first"] == "honest" else LIAR, human_role=human_role,
            ai_debater=debater, seed=int(ss["play_seed"]), instance_id=f"{images.name}:{index}",
            judge_name=judge.name, human_name=(ss.get("play_name") or "player").strip() or "player")
        ss.pop(live.SESSION_LAST_SEARCH_KEY, None)
        ss.pop(STEPS_KEY, None)
    except ValueError as e:
        ss[ERROR_KEY] = f"Cannot start this game: {e}"


def reveal() -> None:
    ss = st.session_state
    game = ss.get(live.SESSION_GAME_KEY)
    if game is None:
        return
    try:
        game.human_move(ss["play_row"], ss["play_col"])
    except ValueError as e:
        ss[ERROR_KEY] = str(e)


def request_steps(n: int) -> None:
    st.session_state[STEPS_KEY] = n


# ----------------------------------------------------------------------------- page


def settings(judge: live.AppJudge, images) -> None:
    st.radio("Mode", (MODE_PLAY, MODE_WATCH), key="play_mode", horizontal=True)
    watching = st.session_state["play_mode"] == MODE_WATCH
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.radio("Your role", ("honest", "liar"), key="play_role", horizontal=True, disabled=watching,
                 help="The honest player argues for the true class; the liar for a wrong one.")
    with c2:
        st.radio("Who moves first", ("honest", "liar"), key="play_first", horizontal=True)
    with c3:
        st.number_input("Pixels revealed in all (K)", min_value=1, max_value=12,
                        value=int(judge.config.num_reveals), key="play_k")
    with c4:
        st.number_input("AI search simulations per move", min_value=1, max_value=2048, value=64, step=16,
                        key="play_sims")
    c5, c6, c7, c8 = st.columns(4)
    with c5:
        st.number_input(f"Image index ({images.name}, 0..{len(images) - 1})", min_value=0,
                        max_value=len(images) - 1, value=min(judge.first_unseen_index, len(images) - 1),
                        key="play_index",
                        help=f"Images from {judge.first_unseen_index} on were not used to train the judge."
                        if judge.first_unseen_index else None)
    with c6:
        st.selectbox("The liar's claim", [LIE_RANDOM, LIE_NONE] + list(range(judge.config.num_classes)),
                     key="play_lie", help="Precommitment: the liar names one wrong class before the game.")
    with c7:
        st.number_input("Seed", min_value=0, value=0, key="play_seed")
    with c8:
        st.text_input("Your name", value="player", key="play_name", disabled=watching, max_chars=40)
    st.button("New game", type="primary", key="play_new", on_click=new_game, args=(judge, images))


def run_ai_moves(game: live.LiveDebate) -> None:
    """The AI moves due now: in a human game until it is the human's turn; when watching, as many
    as the buttons asked for."""
    if game.finished:
        st.session_state.pop(STEPS_KEY, None)
        return
    if game.human_player is not None:
        count = 0 if game.is_human_turn() else game.task.num_reveals
    else:
        count = int(st.session_state.pop(STEPS_KEY, 0) or 0)
    if count <= 0:
        return
    with st.spinner("The AI is searching (the first move compiles the search, a few seconds)..."):
        for _ in range(count):
            if game.finished or game.is_human_turn():
                break
            game.ai_move()
    snapshot = game.last_search_snapshot()
    if snapshot is not None:
        st.session_state[live.SESSION_LAST_SEARCH_KEY] = snapshot


def show_beliefs(game: live.LiveDebate, names: dict, hide_roles: bool) -> None:
    probs = game.judge_probs()
    cols = st.columns(2)
    order = (game.first_player, 1 - game.first_player) if hide_roles else (HONEST, LIAR)
    for col, player in zip(cols, order):
        delta = None
        if len(game.history) >= 2:
            delta = f"{probs[player] - game.history[-2].judge_probs[player]:+.2f}"
        col.metric(f"Judge: p({names[player]})", f"{probs[player]:.2f}", delta=delta)
    if game.history:
        rows = [{"turn": t.index + 1, "who": names[t.player], "pixel": f"({t.row}, {t.col})", "value": t.value,
                 f"p({names[order[0]]})": round(t.judge_probs[order[0]], 3),
                 f"p({names[order[1]]})": round(t.judge_probs[order[1]], 3)} for t in game.history]
        st.dataframe(rows, hide_index=True, width="stretch")


def store_result(game: live.LiveDebate) -> None:
    ss = st.session_state
    if ss.get(STORED_FOR_KEY) != game.id:
        from debate.records.storage import StorageError

        try:
            store = get_store()
            store.add_transcripts([game.to_transcript()], skip_existing=True)
        except (StorageError, ValueError) as e:
            st.error(f"The transcript could not be stored: {e}")
            return
        ss[STORED_FOR_KEY] = game.id
        ss[live.SESSION_LAST_TRANSCRIPT_KEY] = game.id
    st.success(f"Stored transcript {game.id} (protocol {game.default_protocol()}) in the database; "
               "open it on the Game tree page to see the AI's search.")


def show_game(game: live.LiveDebate) -> None:
    watching = game.human_player is None
    hide_roles = False
    if watching and not game.finished:
        hide_roles = st.toggle("Judge it yourself (hide the image and who is honest until the end)", value=True,
                               key="play_hide")
    names, colors = side_labels(game, hide_roles)
    k = game.task.num_reveals
    if game.finished:
        status = f"Game over after {game.turn} of {k} pixels."
    elif game.is_human_turn():
        status = f"Turn {game.turn + 1} of {k}: your move."
    else:
        status = f"Turn {game.turn + 1} of {k}: {names[game.to_move()]} to move."
    st.subheader(status)
    if not hide_roles:
        st.caption(f"Image {game.instance_id}: true class {game.label}. Honest claims {game.label}; liar claims "
                   f"{claim_text(game.claims[LIAR])}. Honest: {game.debater_name(HONEST)}, "
                   f"liar: {game.debater_name(LIAR)}.")
    else:
        st.caption(f"Debater A claims {claim_text(game.claims[game.first_player])}; Debater B claims "
                   f"{claim_text(game.claims[1 - game.first_player])}. One of them is honest.")

    # Human input or AI stepping comes before the board so the board shows its result.
    if game.human_player is not None and not game.finished:
        c1, c2, c3 = st.columns([1, 1, 2])
        h, w = game.task.height, game.task.width
        c1.number_input("Row", min_value=0, max_value=h - 1, value=0, key="play_row")
        c2.number_input("Column", min_value=0, max_value=w - 1, value=0, key="play_col")
        c3.button("Reveal", type="primary", key="play_reveal", on_click=reveal)
        with st.expander(f"Pixels you may reveal ({len(game.legal_pixels())})"):
            st.write(", ".join(f"({r}, {c})" for r, c in game.legal_pixels()))
    elif watching and not game.finished:
        c1, c2 = st.columns(2)
        c1.button("Next AI move", type="primary", key="play_next", on_click=request_steps, args=(1,))
        c2.button("Play to the end", key="play_to_end", on_click=request_steps, args=(k,))

    left, right = st.columns(2)
    with left:
        if hide_roles:
            st.markdown("**The image** is hidden while you judge.")
        else:
            show_figure(board_figure(game.image, game.revealed(), True, colors, "The image (the debaters see it)"))
    with right:
        show_figure(board_figure(game.image, game.revealed(), False, colors, "What the judge sees"))
    st.markdown(" ".join(f"<span style='color:{colors[p]}'>&#9632;</span> {names[p]}" for p in (HONEST, LIAR)),
                unsafe_allow_html=True)
    show_beliefs(game, names, hide_roles)

    if game.finished:
        verdict = game.verdict()
        winner = verdict["winner"]
        message = (f"The judge decides for class {verdict['verdict_claim']} (true class {game.label}): "
                   f"the {live.ROLES[winner]} player wins (margin {verdict['honest_margin']:+.2f}).")
        if game.human_player is not None:
            message += " You win!" if winner == game.human_player else " The AI wins."
        (st.success if winner == HONEST else st.warning)(message)
        store_result(game)


def main() -> None:
    st.title("Play a debate")
    st.write("Two debaters reveal pixels of an image one at a time; the judge sees only the revealed pixels "
             "and decides between the honest claim and the lie.")
    from training.checkpoints import CheckpointError

    try:
        judge = get_judge(os.environ.get(live.APP_JUDGE_ENV) or None)
        images = get_images(judge, judge.dataset)
    except (CheckpointError, live.DataError, ValueError) as e:
        st.error(f"The judge could not be loaded: {e}")
        st.stop()
    st.caption(judge.description)
    with st.expander("Game settings", expanded=st.session_state.get(live.SESSION_GAME_KEY) is None):
        settings(judge, images)
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(error)
    game = st.session_state.get(live.SESSION_GAME_KEY)
    if game is None:
        st.info("Choose the settings and press **New game**.")
        return
    run_ai_moves(game)
    show_game(game)


main()
