"""Each task renders itself: renderers live in the task packages, the app draws a task through its
view module (``app/views/<task>.py``) or, without one, as text; generic app code names no task.

The toy task here has a renderer registered from outside the source tree and no view module: its
debates must show on the Transcripts and Judge pages without any app edit.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from debate import tasks
from debate.records import rendering
from debate.records.storage import Store
from debate.records.transcript import Transcript

ROOT = Path(__file__).resolve().parents[1]
PAGES = "../app/pages"
TIMEOUT = 60
GOLDEN = Path(__file__).parent / "golden" / "computation_liar_claimer.json"
TOY = "toy_task"
#: Generic app code: the pages, their shared glue and the view lookup. Only app/views/<task>.py may name a task.
GENERIC_APP_FILES = sorted((ROOT / "app" / "pages").glob("*.py")) + [ROOT / "app" / "common.py",
                                                                     ROOT / "app" / "views" / "__init__.py"]


# --------------------------------------------------------------------------- no task names in generic code


def task_names_in(path: Path, names: list[str]) -> list[str]:
    """Where a file names a task: a string literal equal to a task name (or naming its package), or an
    import of a task's package or view module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    packages = {f"{prefix}.{name}": name for name in names for prefix in ("debate.tasks", "app.views")}

    def package_of(dotted: str) -> str | None:
        return next((n for p, n in packages.items() if dotted == p or dotted.startswith(p + ".")), None)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            name = text if text in names else package_of(text)
            if name is not None:
                found.append(f"{path.name}:{node.lineno} string {node.value!r} names task {name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (name := package_of(alias.name)) is not None:
                    found.append(f"{path.name}:{node.lineno} imports {alias.name} (task {name})")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            name = next((n for n in map(package_of, modules) if n is not None), None)
            if name is not None:
                found.append(f"{path.name}:{node.lineno} imports from {node.module} (task {name})")
    return found


def test_generic_app_code_names_no_task():
    names = tasks.names()
    assert names  # the registry sees the task packages
    assert [f for path in GENERIC_APP_FILES for f in task_names_in(path, names)] == []


def test_the_check_sees_task_names(tmp_path):
    path = tmp_path / "page.py"
    path.write_text('"""About sparse pixels."""\nfrom debate.tasks.sparse_pixel.game import HONEST\n'
                    'from app.views import computation\nimport debate.tasks.computation.game\n'
                    'X = "sparse_pixel"\nif t.task == " computation ":\n    pass\nY = f"{t.task} computation debate"\n')
    assert task_names_in(path, ["computation", "sparse_pixel"]) == [
        "page.py:2 imports from debate.tasks.sparse_pixel.game (task sparse_pixel)",
        "page.py:3 imports from app.views (task computation)",
        "page.py:4 imports debate.tasks.computation.game (task computation)",
        "page.py:5 string 'sparse_pixel' names task sparse_pixel",
        "page.py:6 string ' computation ' names task computation",
    ]


# --------------------------------------------------------------------------- renderers through the registry


def test_each_task_package_brings_its_renderer():
    for name in tasks.names():
        renderer = rendering.renderer_for(name)
        assert renderer is tasks.get(name).RENDERER and renderer.task == name
    assert rendering.supported_tasks() == tasks.names()


def test_rendering_both_tasks_needs_no_jax():
    """Rendering, the registry and every task's renderer (what the app's Judge and Transcripts pages
    import) load without jax, even after rendering a debate of each task."""
    code = f"""
import json, sys
import numpy as np
from debate.records import rendering
from debate.records.transcript import Transcript, Turn
comp = Transcript.from_dict({{**json.loads(open({str(GOLDEN)!r}).read()), "id": "x", "created_at": "2026-01-01T00:00:00Z"}})
img = np.zeros((4, 4), np.uint8); img[1, 2] = 255  # one candidate: action 0 reveals (1, 2)
pixel = Transcript.from_dict({{**comp.to_dict(), "task": "sparse_pixel", "claims": [3, 5], "ground_truth": 3,
    "verdict_claim": 3, "instance": {{"height": 4, "width": 4, "pixels": img.reshape(-1).tolist()}},
    "turns": [{{**comp.turns[0].to_dict(), "action": 0, "revealed": {{"row": 1, "col": 2, "value": 255}}}}]}})
for t in (comp, pixel):
    rendering.describe_transcript(t); rendering.final_evidence(t); rendering.judge_question(t)
import app.views
for t in (comp, pixel):
    app.views.view_for(t)
print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax')))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


class ToyRenderer(rendering.TaskRenderer):
    """A task outside the source tree, with a renderer and no app view."""

    task = TOY
    instructions = "Two debaters name toy numbers. Decide who is right."

    def describe_transcript(self, transcript, **options):
        return "\n".join(f"toy turn {t.index + 1}: {self.turn_text(transcript, t)}" for t in transcript.turns)

    def turn_text(self, transcript, turn, names=None):
        who = names[turn.player] if names is not None else self.role_name(transcript, turn.player)
        return f"{who} plays toy move {turn.action}"

    def judge_question(self, transcript):
        return "Which toy number is right?"

    def final_evidence(self, transcript):
        return f"{len(transcript.turns)} toy moves"

    def evidence_check(self, transcript):
        return "the toy check agrees with the honest claim"


@pytest.fixture
def toy_renderer():
    renderer = rendering.register(ToyRenderer())
    yield renderer
    rendering.unregister(TOY)


def test_a_registered_renderer_is_found_and_unregistered(toy_renderer):
    assert rendering.renderer_for(TOY) is toy_renderer and TOY in rendering.supported_tasks()
    rendering.unregister(TOY)
    with pytest.raises(rendering.UnknownTaskError, match=f"no people-facing rendering for task '{TOY}'"):
        rendering.renderer_for(TOY)


def test_views_fall_back_to_text():
    from app import views

    assert views.view_for(TOY).__class__ is views.TextView and views.view_for(TOY).label == "toy-task"
    assert not views.view_for(TOY).searchable
    for name in tasks.names():
        view = views.view_for(name)
        assert isinstance(view, views.TaskView) and view.task == name
    assert views.searchable_tasks() == [n for n in tasks.names() if views.view_for(n).searchable]


# --------------------------------------------------------------------------- pages, with a task without a view


@pytest.fixture
def store(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DEBATE_DB", url)
    monkeypatch.setenv("DEBATE_APP_JUDGE", str(tmp_path / "no-judge"))  # never train a judge here
    monkeypatch.chdir(tmp_path)
    st.cache_resource.clear()
    st.cache_data.clear()
    s = Store(url)
    yield s
    s.close()
    st.cache_resource.clear()
    st.cache_data.clear()


def toy_transcript() -> Transcript:
    """The golden computation debate relabelled as a toy-task debate (6 turns; the liar claims 6, the truth is 1)."""
    d = json.loads(GOLDEN.read_text())
    return Transcript.from_dict({**{k: v for k, v in d.items() if k != "id"}, "task": TOY, "created_at": "2024-01-01T00:00:01.000000Z",
                                 "experiment": None})


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_transcripts_page_replays_a_task_without_a_view_as_text(store, toy_renderer):
    toy = toy_transcript()
    store.add_transcripts([toy])
    at = no_exception(AppTest.from_file(f"{PAGES}/transcripts.py", default_timeout=TIMEOUT).run())
    at.selectbox(key="open_transcript").set_value(toy.id).run()
    no_exception(at)
    shown = " ".join(texts(at.markdown))
    assert "**Question:** Which toy number is right?" in shown
    assert "true answer **1**" in shown and "claims **6**" in shown
    first = toy.turns[0]
    assert f"Turn 1: {toy.roles[first.player]} plays toy move {first.action}; judge: " in shown
    assert "**Final evidence:** 6 toy moves" in shown
    assert any("the toy check agrees with the honest claim" in c for c in texts(at.caption))
    assert at.code[0].value == ToyRenderer().describe_transcript(toy)
    assert not at.get("image") and len(at.get("vega_lite_chart")) == 1
    at.slider(key="replay_turn").set_value(2).run()
    shown = " ".join(texts(no_exception(at).markdown))
    assert "Turn 2:" in shown and "Turn 3:" not in shown and "Final evidence" not in shown


def test_judge_page_judges_a_task_without_a_view(store, toy_renderer):
    from debate.records.study_design import StudyDesign

    toy = toy_transcript()
    store.add_transcripts([toy])
    store.create_study("toy study", TOY, design=StudyDesign(quota=1, practice=0, overlap_share=0.0),
                       allow_role_cues=True)  # one debate: a single first mover
    at = no_exception(AppTest.from_file(f"{PAGES}/judge.py", default_timeout=TIMEOUT).run())
    at.text_input(key="signin_name").set_value("tess")
    at.text_input(key="signin_passphrase").set_value("pass-word")
    at.button(key="FormSubmitter:signin_form-Sign in").click().run()
    no_exception(at)
    a = at.session_state["judge_assignment"]
    assert a["transcript"].id == toy.id
    assert any("Debater A argues: " in m and "(purple mark)" in m for m in texts(at.markdown))
    for _ in toy.turns:
        at.button(key="next_turn").click().run()
        no_exception(at)
    shown = " ".join(texts(at.markdown))
    assert "Which toy number is right?" in shown
    assert "**What you decide on:** 6 toy moves" in shown and "Debater A plays toy move" in shown
    assert at.text_area(key="explanation").placeholder == "e.g. why this claim is the true one"
    honest_is_a = a["side_order"] == "honest-left"
    at.slider(key="final_p").set_value(70 if honest_is_a else 30)
    at.text_area(key="explanation").set_value("the toy moves add up")
    at.button(key="FormSubmitter:verdict_form-Submit judgment").click().run()
    no_exception(at)
    j, = store.query_judgments()
    assert (j["transcript_id"], j["task"], j["verdict_role"], j["turns_seen"]) == (toy.id, TOY, "honest", 6)

def test_game_tree_page_offers_no_search_for_a_task_without_a_view(store, toy_renderer):
    toy = toy_transcript()
    store.add_transcripts([toy])
    at = no_exception(AppTest.from_file(f"{PAGES}/game_tree.py", default_timeout=TIMEOUT).run())
    assert any("No sparse-pixel transcripts are stored yet" in i for i in texts(at.info))
