"""The Streamlit app in a real browser: Debian's Chromium driven by Playwright's sync API.

A module fixture serves app/main.py with ``streamlit run`` on a free port, on a SQLite database
seeded with three short 8x8 sparse-pixel debates, and waits for ``/_stcore/health``. The tests click
through the judging page as people would (one person; two people at once) and check what reached
the database. ``test_screenshots`` saves a full-page PNG of every page when $DEBATE_SCREENSHOT_DIR
is set. Without Chromium or Playwright the tests are skipped, except under CI ($CI set), where they
fail: .ci/run installs Debian's ``chromium``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from debate.records.storage import Store
from debate.records.study_design import StudyDesign
from debate.records.transcript import Transcript, Turn

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DEBATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_TIMEOUT_S = 60
TIMEOUT_MS = 60_000  # one Streamlit rerun on a busy 2-core machine
N_TURNS = 6  # as the quickstart's debates (K = 6)
ORGANISER = "organiser passphrase"  # the server runs in participant mode
PARTICIPANT_PAGES = [("Judge a debate", "Judge a debate"), ("My progress", "My progress"), ("Organisers", "Organisers")]
RESEARCHER_PAGES = [  # sidebar link, title of the page
    ("Studies", "Studies"),
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


def make_debate(seed: int, *, honest_first: bool = True, lie: int = 5, n_turns: int = N_TURNS,
                judge: str = "small-judge@test", size: int = 28, created_at: str | None = None) -> Transcript:
    """A valid sparse-pixel debate on a 28x28 stroke image; the honest player 0 claims 3 (the truth)."""
    img = np.zeros((size, size), np.uint8)
    m = size // 7  # a margin: 4 pixels on 28x28, 1 on 8x8
    img[m:size - m, size // 4 + seed % (size // 4)] = 255
    img[m, m:size - m] = 180
    img[size - m - 1, m:size - m] = 120 + seed % 100
    nonzero = [(int(r), int(c)) for r, c in zip(*np.nonzero(img))]
    # the action is the pixel's index in the game's candidate list: brightest first, ties in raster order
    candidates = [int(i) for i in np.argsort(-img.reshape(-1).astype(int), kind="stable") if img.flat[i] > 0]
    first = 0 if honest_first else 1
    turns, used = [], set()
    for i in range(n_turns):
        k = (seed + 7 * i) % len(nonzero)
        while nonzero[k] in used:
            k = (k + 1) % len(nonzero)
        r, c = nonzero[k]
        used.add((r, c))
        p = 0.6 + 0.05 * i
        turns.append(Turn(i, (first + i) % 2, candidates.index(r * size + c),
                          {"row": r, "col": c, "value": int(img[r, c])}, [p, 1 - p], [0.1] * 10))
    return Transcript(
        task="sparse_pixel", instance_id=f"img:{seed}",
        protocol=f"debate_precommit_{'honest' if honest_first else 'liar'}_first", claims=[3, lie],
        roles=["honest", "liar"], debaters=["mcts-64", "mcts-64"], judge=judge, first_player=first, turns=turns,
        winner=0, verdict_claim=3, ground_truth=3, seeds={"game": seed},
        instance={"height": size, "width": size, "pixels": img.reshape(-1).tolist()},
        created_at=created_at or f"2024-01-01T00:00:{seed % 60:02d}.000000Z", meta={},
    )


def seed_database(db: str) -> None:
    """Debates like the quickstart's (two lies per image, both first movers) and one open study."""
    with Store(db) as s:
        s.add_transcripts([make_debate(i, honest_first=hf, lie=lie) for i in range(24) for lie in (5, 8)
                           for hf in (True, False)])
        s.create_study("browser study", "sparse_pixel",
                       design=StudyDesign(quota=6, practice=1, overlap_share=0.34, judgments_per_debate=3, seed=2),
                       instructions="Decide which debater tells the truth about the hidden digit.")


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
    seed_database(db)
    port = free_port()
    env = {**os.environ, "DEBATE_DB": db, "PYTHONPATH": str(REPO_ROOT), "DEBATE_ORGANISER_PASSWORD": ORGANISER}
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

    def open_page(path: str = "", width: int = 1400, height: int = 900):
        from playwright.sync_api import expect

        ctx = browser.new_context(viewport={"width": width, "height": height})
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


def sign_in(page, name: str, passphrase: str = "pass-word") -> None:
    from playwright.sync_api import expect

    wait_idle(page)  # the first render may still be running: its elements are inert until it ends
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Passphrase", exact=True).fill(passphrase)
    page.get_by_label("Passphrase", exact=True).press("Enter")  # submits the sign-in form
    wait_idle(page)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


def debate_on_screen(page) -> str:
    """The per-study alias in the page's "Debate D-XXXX." line."""
    from playwright.sync_api import expect

    line = page.get_by_text(re.compile(r"Debate D-[A-Z0-9]{4}\.")).first
    expect(line).to_be_visible()
    return re.search(r"Debate (D-[A-Z0-9]{4})", line.inner_text()).group(1)


def next_turn(page, k: int) -> None:
    """Press N (the Next-turn shortcut) or click, and wait for "Turn k" to be listed."""
    from playwright.sync_api import expect

    button(page, "Next turn").click()
    expect(page.get_by_text(re.compile(rf"^Turn {k}: Debater [AB] revealed"))).to_be_visible()
    wait_idle(page)


def fill_verdict(page, arrow_presses: int, explanation: str) -> int:
    """Move the P(A is right) slider from 50% by 5% per press and type the reason; return the percent."""
    from playwright.sync_api import expect

    form = page.get_by_test_id("stForm")
    thumb = form.get_by_test_id("stSlider").get_by_role("slider")
    thumb.focus()
    for _ in range(abs(arrow_presses)):
        thumb.press("ArrowRight" if arrow_presses > 0 else "ArrowLeft")
    expect(thumb).to_have_value(str(50 + 5 * arrow_presses))
    form.get_by_role("textbox").fill(explanation)
    return 50 + 5 * arrow_presses


def submit_button(page):
    return page.get_by_test_id("stFormSubmitButton").filter(has_text="Submit judgment").get_by_role("button")


def judgments_of(db: str, name: str) -> list[dict]:
    with Store(db) as s:
        return s.query_judgments(annotator_id=next(a["id"] for a in s.list_annotators() if a["name"] == name),
                                 include_practice=True)


# --------------------------------------------------------------------------- tests


def test_ctrl_enter_in_the_explanation_box_stores_one_judgment_and_confirms_every_time(app_server, new_page):
    from playwright.sync_api import expect

    _, db = app_server
    page = new_page()
    expect(page.get_by_role("heading", name="Judge a debate")).to_be_visible()
    sign_in(page, "alice")
    for attempt in range(3):
        shown = debate_on_screen(page)
        for k in range(1, N_TURNS + 1):
            next_turn(page, k)
        expect(button(page, "Next turn")).to_be_disabled()
        if attempt == 0:  # at 1400 px the verdict form is on screen without scrolling
            box = submit_button(page).bounding_box()
            assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"], box
        percent = fill_verdict(page, arrow_presses=3 if attempt % 2 == 0 else -4, explanation=f"try {attempt}")
        page.get_by_test_id("stForm").get_by_role("textbox").press("Control+Enter")
        confirmation = page.get_by_test_id("stAlert").filter(has_text=f"Saved: your judgment of debate {shown}")
        expect(confirmation).to_be_visible()
        wait_idle(page)
        page.wait_for_timeout(1500)  # still there after any rerun a second key event could cause
        expect(confirmation).to_be_visible()
        expect(page.get_by_text("already judged")).to_have_count(0)
        rows = judgments_of(db, "alice")
        assert len(rows) == attempt + 1, rows
        j = rows[-1]
        assert j["study_alias"] == shown and j["explanation"] == f"try {attempt}" and j["turns_seen"] == N_TURNS
        assert j["confidence"] == max(percent, 100 - percent) / 100
        assert len(json.loads(j["beliefs_json"])) == N_TURNS
        a_is_honest = j["side_order"] == "honest-left"
        assert (j["verdict_role"] == "honest") == ((percent > 50) == a_is_honest)
    assert judgments_of(db, "alice")[0]["study_set"] == "practice"


def test_two_people_judge_at_the_same_time_and_a_reload_keeps_them_signed_in(app_server, new_page):
    from playwright.sync_api import expect

    _, db = app_server
    people = {"bob": new_page(), "carol": new_page()}
    for name, page in people.items():
        sign_in(page, name)
    shown = {name: debate_on_screen(page) for name, page in people.items()}
    for k in range(1, N_TURNS + 1):  # interleaved: bob's turn k, then carol's
        for page in people.values():
            next_turn(page, k)
    for i, (name, page) in enumerate(people.items()):
        fill_verdict(page, arrow_presses=-2 if i else 4, explanation=f"{name} thinks so")
    for page in people.values():  # both submits leave before either answer comes back
        submit_button(page).click(no_wait_after=True)
    for name, page in people.items():
        expect(page.get_by_test_id("stAlert").filter(has_text=f"Saved: your judgment of debate {shown[name]}")
               ).to_be_visible()
    for name in people:
        rows = judgments_of(db, name)
        assert len(rows) == 1 and rows[0]["study_alias"] == shown[name], rows
    page = people["bob"]
    nxt = debate_on_screen(page)
    page.reload()
    expect(page.get_by_test_id("stApp")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_text("Signed in as bob")).to_be_visible()
    assert debate_on_screen(page) == nxt


def test_a_participant_sees_only_the_participant_pages(app_server, new_page):
    from playwright.sync_api import expect

    page = new_page()
    nav = page.get_by_test_id("stSidebarNav")
    for link, _ in PARTICIPANT_PAGES:
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    for link, _ in RESEARCHER_PAGES:
        expect(nav.get_by_role("link", name=link, exact=True)).to_have_count(0)
    direct = new_page("transcripts")  # a researcher page's address typed by hand
    expect(direct.get_by_role("heading", name="Transcripts")).to_have_count(0)
    nav.get_by_role("link", name="Organisers", exact=True).click()
    wait_idle(page)
    page.get_by_label("Organiser passphrase").fill(ORGANISER)
    page.get_by_test_id("stFormSubmitButton").get_by_role("button").click()
    wait_idle(page)
    for link, _ in RESEARCHER_PAGES:
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()


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
    """Two newer 4-turn 8x8 debates played with the app's default judge (so the Game-tree page can
    search them again), judged by two people (so the Human-study page has numbers)."""
    from app import live

    judge = str(live.default_app_judge_dir().resolve())
    extra = [make_debate(100 + i, n_turns=4, judge=judge, size=8, created_at=f"2024-01-02T00:00:0{i}.000000Z")
             for i in range(2)]
    with Store(db) as s:
        s.add_transcripts(extra)
        for name, verdicts in (("erin", (3, 3)), ("frank", (3, 5))):
            ann = s.get_or_create_annotator(name)["id"]
            for t, v in zip(extra, verdicts):
                s.add_judgment(t.id, ann, v, 0.8 if v == 3 else 0.6, "the loop on the left", "honest-left", 20.0, 4,
                               beliefs=[0.6, 0.7, 0.6, 0.8] if v == 3 else [0.5, 0.4, 0.4, 0.4])


def test_screenshots(app_server, new_page):
    """Full-page PNGs of every page at 1400 and 400 px in $DEBATE_SCREENSHOT_DIR (only when it is set)."""
    from playwright.sync_api import expect

    out = os.environ.get("DEBATE_SCREENSHOT_DIR")
    if not out:
        pytest.skip("set DEBATE_SCREENSHOT_DIR to a folder to save screenshots of every page")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_for_screenshots(app_server[1])
    saved = []
    for width in (1400, 400):
        page = new_page(width=width, height=900)
        saved.append(out / f"{width}-0-sign-in.png")
        full_page_screenshot(page, saved[-1])
        sign_in(page, f"dora-{width}")  # the judging page with a debate part of the way through
        for k in range(1, 4):
            next_turn(page, k)
        pages = PARTICIPANT_PAGES[:2] + RESEARCHER_PAGES
        for i, (link, title) in enumerate(pages):
            if link == "Studies":  # open the researcher pages
                goto(page, "Organisers")
                page.get_by_label("Organiser passphrase").fill(ORGANISER)
                page.get_by_test_id("stFormSubmitButton").get_by_role("button").click()
                wait_idle(page)
            if i:  # the judging page is on screen already
                goto(page, link)
            # the Play and Game-tree pages may first train the app's small judge (under a minute)
            expect(page.get_by_role("heading", name=title, exact=False).first).to_be_visible(timeout=240_000)
            wait_idle(page, timeout_ms=240_000)
            path = out / f"{width}-{i + 1}-{link.lower().replace(' ', '-')}.png"
            full_page_screenshot(page, path)
            saved.append(path)
    assert all(p.stat().st_size > 10_000 for p in saved), [(p.name, p.stat().st_size) for p in saved]


def goto(page, link: str) -> None:
    """Follow a sidebar link (opening the sidebar first where it is collapsed, on a phone)."""
    nav = page.get_by_test_id("stSidebarNav")
    if not nav.is_visible():
        page.get_by_test_id("stExpandSidebarButton").click()
    nav.get_by_role("link", name=link, exact=True).click()
    wait_idle(page, timeout_ms=240_000)  # the Play page may first train the app's MNIST judge (~80 s)
    close = page.get_by_test_id("stSidebarCollapseButton")
    if page.viewport_size["width"] <= 640 and close.is_visible():
        close.click()
