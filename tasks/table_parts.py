"""One Parquet file written part by part: each part a row group, all under the first part's schema.

The chunked stages (predict's forecaster, extract's detectors) produce their long tables one chunk of regions at a
time; writing each chunk as it arrives bounds their memory by a chunk instead of by every region. The store owns
the path and the atomic move (:meth:`tasks.store.ArtifactStore.table_parts`); this module only appends.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd


class TableParts:
    """Append DataFrames with the same columns to one Parquet file at ``path``; read back, the file equals the
    parts concatenated (``pd.concat(parts, ignore_index=True)``). A part whose columns or types differ from the
    first part's fails loudly instead of being coerced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.parts = 0
        self.ref: Any = None  # the store sets it once the file is in place
        self._writer: Any = None
        self._schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (its index is dropped) as one row group; an empty frame adds nothing."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not len(frame):
            return
        if self._schema is not None and list(frame.columns) != self._schema.names:
            raise ValueError(f"part {self.parts + 1} has columns {list(frame.columns)}; expected {self._schema.names}")
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema)
        self._writer.write_table(table)
        self.rows += len(frame)
        self.parts += 1

    def finish(self, empty: pd.DataFrame) -> None:
        """Close the file; with no part written, write ``empty`` (the table's columns, no rows) instead."""
        if self._writer is None:
            empty.to_parquet(self.path, index=False)
            return
        self._writer.close()
        self._writer = None

    def __enter__(self) -> TableParts:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._writer is not None:  # an error inside the block: close the handle, the store drops the file
            self._writer.close()
            self._writer = None
