"""Export: stored transcripts to JSONL, and human judgments to JSONL, CSV or parquet.

Every export writes a temporary sibling file and renames it, so a failure never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from pathlib import Path
from typing import Any

from debate.records.storage.engine import StorageError
from debate.records.storage.judging import JUDGMENT_COLUMNS
from debate.records.transcript import write_jsonl

EXPORT_FORMATS = ("jsonl", "csv", "parquet")


class ExportMixin:
    """Files out of the store (the export part of ``Store``)."""

    def export_jsonl(self, path: str | os.PathLike, **filters: Any) -> int:
        """Write the matching transcripts to a JSONL file (atomically); return how many. The rows are
        written as stored (type-checked only, like every read of the store), so an old database
        whose debates predate the task rules can still be exported; ``read_jsonl`` checks the rules."""
        return write_jsonl(path, self.iter_transcripts(**filters), rules=False)

    def export_judgments(self, path: str | os.PathLike, format: str | None = None, **filters: Any) -> int:
        """Write the matching judgments (query_judgments rows) to a file; return how many.

        ``format`` is "jsonl", "csv" or "parquet" (None: from the file's suffix).
        ``filters`` are query_judgments' arguments. The file is written to a
        temporary sibling and renamed, so a failure never leaves half a file.
        CSV writes booleans as True/False and missing values as empty cells.
        """
        path = os.fspath(path)
        if format is None:
            format = Path(path).suffix.lstrip(".").lower()
        if format not in EXPORT_FORMATS:
            raise StorageError(
                f"export format {format!r} is not supported; use {', '.join(EXPORT_FORMATS)} "
                "(or a file name ending in one of them)"
            )
        allowed = ("annotator_id", "transcript_id", "experiment_id", "protocol", "task", "study_id", "include_practice")
        unknown = sorted(set(filters) - set(allowed))
        if unknown:
            raise StorageError(f"unknown judgment filter(s) {', '.join(unknown)}; use {', '.join(allowed)}")
        rows = self.query_judgments(**filters)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            if format == "jsonl":
                with open(tmp, "w", encoding="utf-8") as f:
                    for r in rows:
                        f.write(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n")
            elif format == "csv":
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(JUDGMENT_COLUMNS))
                    w.writeheader()
                    w.writerows(rows)
            else:
                try:
                    import pyarrow as pa
                    import pyarrow.parquet as pq
                except ImportError:
                    raise StorageError(
                        "exporting parquet needs pyarrow, which is not installed; pip install pyarrow "
                        "or export jsonl/csv"
                    ) from None
                schema = pa.schema([(k, getattr(pa, t)()) for k, t in JUDGMENT_COLUMNS.items()])
                pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
            os.replace(tmp, path)
        except OSError as e:
            raise StorageError(
                f"could not write {path} ({e.strerror or e}); check that its directory exists and is writable"
            ) from None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return len(rows)
