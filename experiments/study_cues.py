"""Can a participant who never looks at the evidence read the answer off the assignment order?

A scripted participant uses only the cues the old assignment gave away: the claim that repeats
from their previous debate (several lies about one image handed out in a row), else the claim of
the debater who moves first. This script measures how often it is right

- under the legacy assignment (``Store.next_assignment``: least-judged, then oldest first), and
- in a study (``Store.next_study_assignment``: blocked, counterbalanced, interleaved),

on a copy of a database of stored debates (e.g. the quickstart's), and prints a table. A valid
design leaves it at chance (50%); the result is written to ``--out`` with its configuration.

    python experiments/study_cues.py --db sqlite:///$HOME/.local/share/debate-sim/debate.db
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debate.records.storage import Store  # noqa: E402
from debate.records.study_design import StudyDesign  # noqa: E402

PROTOCOLS = ["debate_precommit_honest_first", "debate_precommit_liar_first"]


def cue_choice(t, previous_claims: set[int]) -> int:
    """The claim the cues point to: one repeated from the previous debate, else the first mover's."""
    repeated = [c for c in t.claims if c is not None and c in previous_claims]
    if len(repeated) == 1:
        return repeated[0]
    return t.claim_of(t.first_player)


def run(store: Store, participants: int, per_person: int, study_id: str | None) -> dict:
    right = total = 0
    for k in range(participants):
        person = store.get_or_create_annotator(f"cue-{'study' if study_id else 'legacy'}-{k:03d}")
        previous: set[int] = set()
        for _ in range(per_person):
            if study_id is None:
                t = store.next_assignment(person["id"], target_judgments_per_debate=3, task="sparse_pixel")
                side = "honest-left"
            else:
                a = store.next_study_assignment(study_id, person["id"])
                t, side = (None, None) if a is None else (a["transcript"], a["side_order"])
            if t is None:
                break
            claim = cue_choice(t, previous)
            store.add_judgment(t.id, person["id"], int(claim), 0.8, "scripted cue participant", side, 1.0, len(t.turns))
            right += int(claim == t.ground_truth)
            total += 1
            previous = {c for c in t.claims if c is not None}
    return {"judgments": total, "right": right, "accuracy": right / total if total else None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="SQLite URL of a database of stored debates (copied, never written)")
    p.add_argument("--participants", type=int, default=30)
    p.add_argument("--per-person", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("debate-results/study_cues.json"))
    args = p.parse_args(argv)
    if not args.db.startswith("sqlite:///"):
        p.error("--db must be a SQLite file URL (sqlite:///PATH): the script works on a copy of it")
    source = Path(args.db[len("sqlite:///"):])
    if not source.is_file():
        p.error(f"no database at {source}; run `debate quickstart` first or pass --db")
    started = time.time()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in ("legacy", "study"):
            copy = Path(tmp) / f"{arm}.db"
            shutil.copy(source, copy)
            with Store(f"sqlite:///{copy}") as store:
                study_id = None
                if arm == "study":
                    design = StudyDesign(quota=args.per_person, practice=0, overlap_share=0.0, judgments_per_debate=3,
                                         seed=args.seed)
                    study_id = store.create_study("cue-check", "sparse_pixel", design=design, protocols=PROTOCOLS)["id"]
                rows[arm] = run(store, args.participants, args.per_person, study_id)
    print(f"{'assignment':<12} {'judgments':>9} {'right':>6} {'accuracy':>9}")
    for arm, r in rows.items():
        print(f"{arm:<12} {r['judgments']:>9} {r['right']:>6} {100 * r['accuracy']:>8.1f}%")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "results": rows, "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "protocols": PROTOCOLS, "code_version": commit, "python": platform.python_version(),
        "packages": {n: metadata.version(n) for n in ("sqlalchemy", "streamlit")},
        "wall_seconds": round(time.time() - started, 1),
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
