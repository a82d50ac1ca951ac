"""The finished parts of an unfinished run, kept on disk until the whole run is done.

A run made of independent parts (the conditions of a reproduction) records each part here as it
finishes: its result row and its transcripts (JSONL). The database receives the experiment only
when every part is done, in one transaction, so an interrupted run leaves nothing half-made
there; rerunning the same command with the same settings loads the finished parts and plays only
the rest. Files are written to a temporary name and renamed, so a kill mid-write keeps the
previous state.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from debate.records.transcript import Transcript, read_jsonl, write_jsonl

PARTIAL_DIR = "partial"
STATE_FILE = "run.json"


class PartialRun:
    def __init__(self, out_dir: str | os.PathLike, fingerprint: dict, log=print):
        self.dir = Path(out_dir) / PARTIAL_DIR
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))
        state = self._read_state()
        if state is not None and state.get("fingerprint") != self.fingerprint:
            log(f"note: the unfinished run in {self.dir} had other settings; starting afresh")
            shutil.rmtree(self.dir, ignore_errors=True)
            state = None
        if state is None:
            state = {"fingerprint": self.fingerprint, "experiment_id": uuid.uuid4().hex, "parts": {}}
        self.experiment_id: str = state["experiment_id"]
        self.parts: dict[str, dict] = state["parts"]

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

    def record(self, name: str, entry: dict, transcripts: list[Transcript] = ()) -> None:
        """Keep a finished part: ``entry`` (JSON-able) and its transcripts."""
        self.dir.mkdir(parents=True, exist_ok=True)
        entry = dict(entry)
        if transcripts:
            file = f"{len(self.parts):03d}.jsonl"
            write_jsonl(self.dir / file, transcripts)  # atomic
            entry["transcripts_file"] = file
        self.parts[name] = entry
        tmp = self.dir / f"{STATE_FILE}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "experiment_id": self.experiment_id,
                                   "parts": self.parts}, indent=1))
        os.replace(tmp, self.dir / STATE_FILE)

    def clear(self) -> None:
        """The run is complete (its results written): forget the parts."""
        shutil.rmtree(self.dir, ignore_errors=True)
