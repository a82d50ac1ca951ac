"""The Streamlit app in a real browser: Debian's Chromium driven by Playwright's sync API.

A module fixture serves app/main.py with ``streamlit run`` on a free port, on a SQLite database
seeded with three short 8x8 sparse-pixel debates, and waits for ``/_stcore/health``. The tests click
through the judging page as people would (one person; two people at once) and check what reached
the database. ``test_screenshots`` saves a full-page PNG of every page when $DEBATE_SCREENSHOT_DIR
is set. Without Chromium or Playwright the tests are skipped, except under CI ($CI set), where they
fail: .ci/run installs Debian's ``chromium``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from debate.records.storage import Store
from debate.records.transcript import Transcript, Turn

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DEBATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT_S = 60
TIMEOUT_MS = 60_000  # one Streamlit rerun on a busy 2-core machine
N_TURNS = 2
PAGES = [  # sidebar link, title of the page
    ("Judge a debate", "Judge a debate"),
    ("Play", "Play a debate"),
    ("Transcripts", "Transcripts"),
    ("Game tree", "Game tree"),
    ("Results", "Results"),
    ("Human study", "Human study"),
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is an error: .ci/run should have installed Debian's chromium "
                    "(apt-get install chromium) and the test extra (playwright)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- data


def make_debate(seed: int, n_turns: int = N_TURNS, judge: str = "small-judge@test",
                created_at: str | None = None) -> Transcript:
    """A valid 8x8 sparse-pixel debate; the honest player 0 claims 3 (the truth), the liar 5."""
    img = np.zeros((8, 8), np.uint8)
    img[1:7, 2 + seed % 2] = 255
    img[1, 2:6] = 180
    img[6, 2:6] = 120 + seed
    nonzero = [(int(r), int(c)) for r, c in zip(*np.nonzero(img))]
    # the action is the pixel's index in the game's candidate list: brightest first, ties in raster order
    candidates = [int(i) for i in np.argsort(-img.reshape(-1).astype(int), kind="stable") if img.flat[i] > 0]
    turns = []
    for i in range(n_turns):
        r, c = nonzero[(seed + 5 * i) % len(nonzero)]
        p = 0.6 + 0.1 * i
        turns.append(Turn(i, i % 2, candidates.index(r * 8 + c), {"row": r, "col": c, "value": int(img[r, c])},
                          [p, 1 - p], [0.1] * 10))
    return Transcript(
        task="sparse_pixel", instance_id=f"sklearn-digits:{seed}", protocol="debate_precommit_honest_first",
        claims=[3, 5], roles=["honest", "liar"], debaters=["mcts-64", "mcts-64"], judge=judge,
        first_player=0, turns=turns, winner=0, verdict_claim=3, ground_truth=3, seeds={"game": seed},
        instance={"height": 8, "width": 8, "pixels": img.reshape(-1).tolist()},
        created_at=created_at or f"2024-01-01T00:00:{seed:02d}.000000Z", meta={},
    )


# --------------------------------------------------------------------------- server and browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """``streamlit run app/main.py`` on a free port and a seeded SQLite file: (base URL, database URL)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    tmp = tmp_path_factory.mktemp("browser")
    db = f"sqlite:///{tmp / 'app.db'}"
    with Store(db) as s:
        s.add_transcripts([make_debate(i) for i in range(3)])
    port = free_port()
    env = {**os.environ, "DEBATE_DB": db, "PYTHONPATH": str(REPO_ROOT)}
    log = open(tmp / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"],  # as `debate app`
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                out = (tmp / "streamlit.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"streamlit did not answer {base}/_stcore/health within {SERVER_START_TIMEOUT_S} s "
                            f"(exit code {proc.poll()}); its output:\n{out}")
            time.sleep(0.25)
        yield base, db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(app_server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser, app_server):
    """Opens the app in a fresh browser context (one person); closes every context afterwards."""
    base, _ = app_server
    contexts = []

    def open_page(path: str = ""):
        from playwright.sync_api import expect

        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/{path}")
        expect(page.get_by_test_id("stApp")).to_be_visible()
        wait_idle(page)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


# --------------------------------------------------------------------------- page helpers


def wait_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until the script run triggered by the last action has finished."""
    page.wait_for_timeout(150)  # let the click reach the server and the run start
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)


def button(page, text: str):
    return page.get_by_test_id("stButton").filter(has_text=text).get_by_role("button")


def create_profile(page, name: str) -> None:
    from playwright.sync_api import expect

    wait_idle(page)  # the first render may still be running: its elements are inert until it ends
    name_box = page.get_by_label("Your name", exact=True)
    if not name_box.is_visible():  # the expander starts closed once some profile exists
        page.get_by_test_id("stExpander").filter(has_text="Create a profile").locator("summary").click()
        wait_idle(page)
    expect(name_box).to_be_editable()
    name_box.fill(name)
    name_box.press("Enter")
    wait_idle(page)
    button(page, "Create profile").click()
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Your profile")).to_have_value(name)


def debate_on_screen(page) -> str:
    """The short id in the page's "Debate 1a2b3c4d" heading."""
    from playwright.sync_api import expect

    heading = page.get_by_test_id("stHeading").filter(has_text=re.compile(r"Debate [0-9a-f]{8}"))
    expect(heading).to_be_visible()
    return re.search(r"Debate ([0-9a-f]{8})", heading.inner_text()).group(1)


def next_turn(page, k: int) -> None:
    """Click Next turn and wait for "Turn k" to be listed."""
    from playwright.sync_api import expect

    button(page, "Next turn").click()
    expect(page.get_by_text(re.compile(rf"^Turn {k}: Debater [AB] revealed"))).to_be_visible()


def fill_verdict(page, option: int, arrow_presses: int, explanation: str) -> int:
    """Pick option A (0) or B (1), move the confidence slider, type the reason; return the chosen claim."""
    from playwright.sync_api import expect

    form = page.get_by_test_id("stForm")
    choice = form.get_by_test_id("stRadio").get_by_role("radiogroup").locator("label").nth(option)
    claim = int(re.search(r"[AB]: (\d+)", choice.inner_text()).group(1))
    choice.click()
    thumb = form.get_by_test_id("stSlider").get_by_role("slider")
    thumb.focus()
    for _ in range(abs(arrow_presses)):
        thumb.press("ArrowRight" if arrow_presses > 0 else "ArrowLeft")
    expect(thumb).to_have_value(str(50 + 5 * arrow_presses))
    form.get_by_role("textbox").fill(explanation)
    return claim


def submit_button(page):
    return page.get_by_test_id("stFormSubmitButton").filter(has_text="Submit judgment").get_by_role("button")


# --------------------------------------------------------------------------- tests


def test_judge_one_debate_by_clicking(app_server, new_page):
    from playwright.sync_api import expect

    _, db = app_server
    page = new_page()
    expect(page.get_by_role("heading", name="Judge a debate")).to_be_visible()
    create_profile(page, "alice")
    shown = debate_on_screen(page)
    for k in range(1, N_TURNS + 1):
        next_turn(page, k)
    expect(button(page, "Next turn")).to_be_disabled()
    expect(page.get_by_text("You have seen every turn.")).to_be_visible()
    claim = fill_verdict(page, option=0, arrow_presses=3, explanation="the revealed bar looks like a three")
    submit_button(page).click()
    expect(page.get_by_test_id("stAlert").filter(has_text="your judgment of debate")).to_contain_text(
        f"Thank you, alice: your judgment of debate {shown} was saved")

    with Store(db) as s:
        rows = s.query_judgments(annotator_id=next(a["id"] for a in s.list_annotators() if a["name"] == "alice"))
    assert len(rows) == 1, rows
    j = rows[0]
    assert j["transcript_id"].startswith(shown)
    assert (j["verdict_claim"], j["confidence"], j["turns_seen"], j["mode"]) == (claim, 0.65, N_TURNS, "stepped")
    assert j["explanation"] == "the revealed bar looks like a three"
    assert j["verdict_role"] == ("honest" if claim == 3 else "liar")
    # side_order decides which letter the honest claim had: option A is the honest one iff honest-left
    assert (claim == 3) == (j["side_order"] == "honest-left")


def test_two_people_judge_at_the_same_time(app_server, new_page):
    from playwright.sync_api import expect

    _, db = app_server
    with Store(db) as s:
        before = s.count_judgments()
    people = {"bob": new_page(), "carol": new_page()}
    for name, page in people.items():
        create_profile(page, name)
    shown = {name: debate_on_screen(page) for name, page in people.items()}
    for k in range(1, N_TURNS + 1):  # interleaved: bob's turn k, then carol's
        for page in people.values():
            next_turn(page, k)
    claims = {name: fill_verdict(page, option=i, arrow_presses=-2 if i else 4, explanation=f"{name} thinks so")
              for i, (name, page) in enumerate(people.items())}
    for page in people.values():  # both submits leave before either answer comes back
        submit_button(page).click(no_wait_after=True)
    for name, page in people.items():
        expect(page.get_by_test_id("stAlert").filter(has_text="your judgment of debate")).to_contain_text(
            f"Thank you, {name}: your judgment of debate {shown[name]} was saved")

    with Store(db) as s:
        names = {a["id"]: a["name"] for a in s.list_annotators()}
        rows = [r for r in s.query_judgments() if names[r["annotator_id"]] in people]
        assert s.count_judgments() == before + 2
    assert len(rows) == 2, rows
    assert {r["annotator_name"]: r["transcript_id"][:8] for r in rows} == shown
    assert {r["annotator_name"]: r["verdict_claim"] for r in rows} == claims
    assert {r["annotator_name"]: r["confidence"] for r in rows} == {"bob": 0.7, "carol": 0.4}
    assert len({(r["transcript_id"], r["annotator_id"]) for r in rows}) == 2


def full_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to the content first (once
    its height has settled: charts are drawn after the script run ends and push the rest down)."""
    def content_height() -> int:
        return page.evaluate("""() => Math.max(document.body.scrollHeight,
            ...['stMain', 'stAppViewContainer', 'stSidebarContent', 'stMainBlockContainer'].map(id => {
                const el = document.querySelector(`[data-testid="${id}"]`);
                return el ? el.scrollHeight : 0;
            }))""")

    def block_height() -> int:  # the page's own content, which does not stretch with the window
        return page.evaluate("""() => {
            const el = document.querySelector('[data-testid="stMainBlockContainer"]');
            return el ? el.scrollHeight : 0;
        }""")

    size = page.viewport_size
    try:  # every chart drawn (vega-embed adds its canvas or svg when done)
        page.wait_for_function("""() => [...document.querySelectorAll(
            '[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]')].every(
            el => el.querySelector('canvas, svg') !== null)""", timeout=15_000)
    except Exception:  # a picture of a half-drawn chart is still a picture
        pass
    margin = content_height() - block_height()  # what surrounds the content (header, padding)
    heights = [-1]
    for _ in range(30):  # until the content keeps its height for a second (at most ~15 s)
        heights.append(block_height())
        if heights[-1] == heights[-2] == heights[-3]:
            break
        if heights[-1] != heights[-2]:
            page.set_viewport_size({"width": size["width"],
                                    "height": min(max(size["height"], heights[-1] + margin + 40), 8000)})
        page.wait_for_timeout(500)
    page.mouse.move(size["width"] - 5, 5)  # no hover tooltip in the picture
    page.wait_for_timeout(300)
    wait_idle(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def seed_for_screenshots(db: str) -> None:
    """Two newer 4-turn debates played with the app's default judge (so the Game-tree page can search
    them again) and judged by two people (so the Human-study page has numbers). Other tests' debates
    are left alone: these two are the newest and already half-judged, so nobody is assigned them first."""
    from app import live

    judge = str(live.default_app_judge_dir().resolve())
    extra = [make_debate(10 + i, n_turns=4, judge=judge, created_at=f"2024-01-02T00:00:0{i}.000000Z")
             for i in range(2)]
    with Store(db) as s:
        s.add_transcripts(extra)
        for name, verdicts in (("erin", (3, 3)), ("frank", (3, 5))):
            ann = s.get_or_create_annotator(name)["id"]
            for t, v in zip(extra, verdicts):
                s.add_judgment(t.id, ann, v, 0.8 if v == 3 else 0.6, "the loop on the left", "honest-left", 20.0, 4)


def test_screenshots(app_server, new_page):
    """A full-page PNG of every page in $DEBATE_SCREENSHOT_DIR (only when it is set)."""
    from playwright.sync_api import expect

    out = os.environ.get("DEBATE_SCREENSHOT_DIR")
    if not out:
        pytest.skip("set DEBATE_SCREENSHOT_DIR to a folder to save screenshots of every page")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_for_screenshots(app_server[1])
    page = new_page()
    create_profile(page, "dora")  # the judging page with a debate half-way through
    next_turn(page, 1)
    saved = []
    for i, (link, title) in enumerate(PAGES):
        if i:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=link, exact=True).click()
        # the Play and Game-tree pages may first train the app's small judge (under a minute)
        expect(page.get_by_role("heading", name=title, exact=False).first).to_be_visible(timeout=180_000)
        wait_idle(page, timeout_ms=180_000)
        path = out / f"{i + 1}-{link.lower().replace(' ', '-')}.png"
        full_page_screenshot(page, path)
        saved.append(path)
        if link == "Transcripts":  # and one debate opened for replay
            page.get_by_role("combobox", name="Open a debate").click()
            page.get_by_role("option").first.click()
            wait_idle(page, timeout_ms=60_000)
            path = out / f"{i + 1}b-transcripts-replay.png"
            full_page_screenshot(page, path)
            saved.append(path)
    assert all(p.stat().st_size > 10_000 for p in saved), [(p.name, p.stat().st_size) for p in saved]
