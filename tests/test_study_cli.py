"""`debate study ...`: create, list, invite, open/close and export a study from the command line."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from app.cli import app
from debate.records.storage import Store
from test_studies import debate, quickstart_like  # noqa: E402  (tests/ is on sys.path under pytest)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_create_list_invite_close_and_export(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Store(url) as s:
        s.add_transcripts(quickstart_like(20))
    made = invoke("study", "create", "--name", "pilot", "--quota", "5", "--practice", "1", "--overlap-share", "0.4",
                  "--invitations", "2", "--db", url)
    assert made.exit_code == 0, made.output
    assert "created study pilot (open; task sparse_pixel; 1 practice, 2 overlap, 102 main debates; quota 5" in made.output
    codes = [line.split(": ")[1] for line in made.output.splitlines() if line.startswith("invitation: ")]
    assert len(codes) == 2
    listed = invoke("study", "list", "--db", url)
    assert listed.exit_code == 0 and "pilot (open;" in listed.output and "0 participants" in listed.output
    more = invoke("study", "invite", "--study", "pilot", "-n", "3", "--db", url)
    assert more.exit_code == 0 and len(more.output.split()) == 3
    with Store(url) as s:  # one participant judges their practice debate and one counted debate
        study = s.find_study("pilot")
        who = s.sign_in_with_code(codes[0])
        for _ in range(2):
            a = s.next_study_assignment(study["id"], who["id"])
            t = a["transcript"]
            s.add_judgment(t.id, who["id"], t.claims[0], 0.7, "cli test", a["side_order"], 2.0, len(t.turns),
                           beliefs=[0.6] * len(t.turns))
    out = tmp_path / "pilot.csv"
    exported = invoke("study", "export", "--study", "pilot", "--out", str(out), "--db", url)
    assert exported.exit_code == 0 and "wrote 1 judgments of study pilot" in exported.output
    row, = list(csv.DictReader(out.open()))
    assert row["study_set"] in ("overlap", "main") and row["sequence_index"] == "2" and row["practice"] == "False"
    assert row["study_alias"].startswith("D-") and row["beliefs_json"].startswith("[0.6")
    closed = invoke("study", "close", "--study", "pilot", "--db", url)
    assert closed.exit_code == 0 and "closed study pilot" in closed.output
    assert "pilot (closed;" in invoke("study", "list", "--db", url).output


def test_refusals_are_one_sentence_and_write_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Store(url) as s:
        s.add_transcripts([debate(i, 0, True) for i in range(20)])  # honest first only
    r = invoke("study", "create", "--name", "leaky", "--quota", "4", "--db", url)
    assert r.exit_code == 2 and r.output.startswith("error: this study would tell participants the roles")
    assert "honest debater moves first" in r.output and len(r.output.strip().splitlines()) == 1
    r = invoke("study", "invite", "--study", "nope", "--db", url)
    assert r.exit_code == 2 and "no study is named 'nope' (studies: none yet)" in r.output
    r = invoke("study", "create", "--name", "x", "--overlap-share", "1.5", "--db", url)
    assert r.exit_code == 2 and "less than or equal to 1" in r.output  # click range check, before any work
    with Store(url) as s:
        assert s.list_studies() == []
