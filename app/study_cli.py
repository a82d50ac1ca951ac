"""``debate study ...``: create and manage human judging studies (``debate.records.study_design``).

A study is created from a filter over stored debates; the app then hands its debates to
participants by the design rules (blocked, counterbalanced, interleaved, with an overlap set and
a practice round). See docs/studies/human-judging.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

study_app = typer.Typer(no_args_is_help=True, help="Create and manage human judging studies (see docs/studies/human-judging.md).")

DB_HELP = "SQLAlchemy URL of the database (default: $DEBATE_DB, else a SQLite file under ~/.local/share/debate-sim)."
#: The protocols a study of quickstart debates uses by default: the ones whose claims name no role.
DEFAULT_PROTOCOLS = ("debate_precommit_honest_first", "debate_precommit_liar_first")


def _store(db: Optional[str]):
    from debate.records.storage import Store

    return Store(db)


def _errors(fn):
    """Expected failures end with one ``error:`` sentence and exit status 2; every option's value is
    checked first (``app.cli_checks.command``)."""
    from app.cli_checks import command

    return command()(fn)


def describe(study: dict) -> str:
    d = study["design"]
    sets = study.get("sets", {})
    return (f"{study['name']} ({'open' if study['open'] else 'closed'}; task {study['task']}; "
            f"{sets.get('practice', 0)} practice, {sets.get('overlap', 0)} overlap, {sets.get('main', 0)} main debates; "
            f"quota {d.quota}, {d.judgments_per_debate} judgments per main debate; "
            f"{study.get('participants', 0)} participants)")


@study_app.command("create")
@_errors
def create(
    name: str = typer.Option(..., help="The study's name (unique)."),
    task: str = typer.Option("sparse_pixel", help="Task of the debates."),
    experiment: Optional[str] = typer.Option(None, help="Only debates of this experiment id."),
    protocol: Optional[List[str]] = typer.Option(None, help="Only these protocols (repeat the option); default: "
                                                 + ", ".join(DEFAULT_PROTOCOLS) + " for sparse_pixel, else all."),
    quota: int = typer.Option(20, min=1, max=10_000, help="Counted debates per participant."),
    judgments_per_debate: int = typer.Option(3, min=1, max=1000, help="Judgments wanted per main-set debate."),
    overlap_share: float = typer.Option(0.2, min=0.0, max=1.0, help="Share of each quota from the overlap set, "
                                        "which every participant judges (for agreement)."),
    practice: int = typer.Option(2, min=0, max=100, help="Practice debates (with feedback, not counted) first."),
    instructions: str = typer.Option("", help="Instructions shown to participants."),
    instructions_file: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, readable=True,
                                                    help="Read the instructions from this text file."),
    allow_repeat_instances: bool = typer.Option(False, help="Let a participant see one instance more than once."),
    allow_role_cues: bool = typer.Option(False, help="Create the study even where the claims or the first mover "
                                         "name the roles (the refusal says what)."),
    invitations: int = typer.Option(0, min=0, max=10_000, help="Also make this many invitation codes."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Seed of every random choice of the study."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Create a study from the stored debates that match the filter and print its sets."""
    from debate.records.study_design import StudyDesign

    if instructions_file is not None:
        instructions = instructions_file.read_text(encoding="utf-8")
    protocols = list(protocol) if protocol else (list(DEFAULT_PROTOCOLS) if task == "sparse_pixel" else None)
    design = StudyDesign(quota=quota, judgments_per_debate=judgments_per_debate, overlap_share=overlap_share,
                         practice=practice, allow_repeat_instances=allow_repeat_instances, seed=seed)
    store = _store(db)
    study = store.create_study(name, task, design=design, experiment_id=experiment, protocols=protocols,
                               instructions=instructions, allow_role_cues=allow_role_cues)
    listed = next(s for s in store.list_studies() if s["id"] == study["id"])
    typer.echo(f"created study {describe(listed)}")
    if invitations:
        for code in store.create_invitations(study["id"], invitations):
            typer.echo(f"invitation: {code}")


@study_app.command("list")
@_errors
def list_(db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """List the studies and their progress."""
    rows = _store(db).list_studies()
    if not rows:
        typer.echo("no studies yet: create one with `debate study create --name NAME`")
    for s in rows:
        typer.echo(describe(s))


@study_app.command("invite")
@_errors
def invite(
    study: str = typer.Option(..., help="Study name or id."),
    count: int = typer.Option(1, "--count", "-n", min=1, max=10_000, help="How many codes."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Make invitation codes: each signs one new anonymous participant into the study."""
    store = _store(db)
    for code in store.create_invitations(store.find_study(study)["id"], count):
        typer.echo(code)


@study_app.command("close")
@_errors
def close(study: str = typer.Option(..., help="Study name or id."), db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """Stop handing out the study's debates (judgments stay)."""
    store = _store(db)
    s = store.find_study(study)
    store.set_study_open(s["id"], False)
    typer.echo(f"closed study {s['name']}")


@study_app.command("open")
@_errors
def reopen(study: str = typer.Option(..., help="Study name or id."), db: Optional[str] = typer.Option(None, help=DB_HELP)):
    """Hand out the study's debates again."""
    store = _store(db)
    s = store.find_study(study)
    store.set_study_open(s["id"], True)
    typer.echo(f"opened study {s['name']}")


@study_app.command("export")
@_errors
def export(
    study: str = typer.Option(..., help="Study name or id."),
    out: Path = typer.Option(..., help="File to write (.csv, .jsonl or .parquet)."),
    include_practice: bool = typer.Option(False, help="Also the practice judgments (flagged)."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Write the study's judgments with their design (set, position, side, first mover, beliefs)."""
    from app.cli_checks import output_file

    output_file(out)
    store = _store(db)
    s = store.find_study(study)
    n = store.export_judgments(out, study_id=s["id"], include_practice=include_practice)
    typer.echo(f"wrote {n} judgments of study {s['name']} to {out}")
