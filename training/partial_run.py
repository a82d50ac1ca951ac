"""The finished parts of an unfinished run, kept on disk until the whole run is done.

A run made of independent parts (the conditions of a reproduction) records each part here as it
finishes: its result row and its transcripts (JSONL). The database receives the experiment only
when every part is done, in one transaction, so an interrupted run leaves nothing half-made
there; rerunning the same command with the same settings loads the finished parts and plays only
the rest. Within a part being played, ``chunks(name)`` keeps each finished batch of games
(``Runner.play``'s chunks), so an interrupt loses at most the batch in flight. Files are written to
a temporary name and renamed, so a kill mid-write keeps the previous state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from debate.records.transcript import Transcript, read_jsonl, write_jsonl

PARTIAL_DIR = "partial"
STATE_FILE = "run.json"
CHUNKS_DIR = "chunks"


class ChunkFiles:
    """The finished chunks of one part being played, one ``.npz`` per chunk (a ``ChunkStore``)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.loaded_games = 0  # games this run took from kept chunks rather than played

    def _file(self, index: int) -> Path:
        return self.folder / f"{index:05d}.npz"

    def load(self, index: int, num_games: int) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self._file(index), allow_pickle=False) as data:
                columns = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError):  # not kept yet, or cut short by a kill: play it again
            return None
        if not columns or any(len(v) != num_games for v in columns.values()):
            return None
        self.loaded_games += num_games
        return columns

    def save(self, index: int, columns: dict[str, np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{index:05d}.tmp-{uuid.uuid4().hex[:8]}.npz"
        np.savez(tmp, **columns)
        os.replace(tmp, self._file(index))

    def count(self) -> int:
        return len(list(self.folder.glob("[0-9]*.npz"))) if self.folder.is_dir() else 0

    @classmethod
    def for_settings(cls, folder: Path, fingerprint: str) -> "ChunkFiles":
        """Chunks in ``folder`` that belong to ``fingerprint``: chunks of other (or unknown) settings
        are removed first, so they are never mixed into another run's games."""
        folder = Path(folder)
        stamp = folder / "settings.txt"
        try:
            same = stamp.read_text() == fingerprint
        except OSError:
            same = False
        if not same:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            stamp.write_text(fingerprint)
        return cls(folder)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PartialRun:
    def __init__(self, out_dir: str | os.PathLike, fingerprint: dict, log=print):
        self.dir = Path(out_dir) / PARTIAL_DIR
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))
        state = self._read_state()
        if state is not None and state.get("fingerprint") != self.fingerprint:
            log(f"note: the unfinished run in {self.dir} had other settings; starting afresh")
            shutil.rmtree(self.dir, ignore_errors=True)
            state = None
        fresh = state is None
        if fresh:  # chunks left without a readable state are of unknown settings: never reuse them
            shutil.rmtree(self.dir, ignore_errors=True)
            state = {"fingerprint": self.fingerprint, "experiment_id": uuid.uuid4().hex, "parts": {}}
        self.experiment_id: str = state["experiment_id"]
        self.parts: dict[str, dict] = state["parts"]
        if fresh:  # written before any chunk, so a rerun knows whose chunks they are
            self._write_state()

    def _read_state(self) -> dict | None:
        try:
            state = json.loads((self.dir / STATE_FILE).read_text())
        except (OSError, ValueError):  # none yet, or unreadable: the parts are played again
            return None
        return state if isinstance(state, dict) and isinstance(state.get("parts"), dict) else None

    def finished(self, name: str) -> dict | None:
        """The recorded entry of a finished part (its ``transcripts`` file read back), or None."""
        entry = self.parts.get(name)
        if entry is None:
            return None
        entry = dict(entry)
        file = entry.pop("transcripts_file", None)
        entry["transcripts"] = read_jsonl(self.dir / file) if file else []
        return entry

    def chunks(self, name: str) -> ChunkFiles:
        """Where part ``name`` keeps its finished chunks of games while it is played."""
        return ChunkFiles(self.dir / CHUNKS_DIR / hashlib.sha1(name.encode()).hexdigest()[:16])

    def record(self, name: str, entry: dict, transcripts: list[Transcript] = ()) -> None:
        """Keep a finished part: ``entry`` (JSON-able) and its transcripts."""
        self.dir.mkdir(parents=True, exist_ok=True)
        entry = dict(entry)
        if transcripts:
            file = f"{len(self.parts):03d}.jsonl"
            write_jsonl(self.dir / file, transcripts)  # atomic
            entry["transcripts_file"] = file
        self.parts[name] = entry
        self._write_state()
        shutil.rmtree(self.chunks(name).folder, ignore_errors=True)  # the part's record supersedes them

    def _write_state(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"{STATE_FILE}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "experiment_id": self.experiment_id,
                                   "parts": self.parts}, indent=1))
        os.replace(tmp, self.dir / STATE_FILE)

    def clear(self) -> None:
        """The run is complete (its results written): forget the parts."""
        shutil.rmtree(self.dir, ignore_errors=True)
