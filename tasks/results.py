"""What each stage hands to the next: typed, frozen results of store references and small values.

A stage returns one of these whether it computed or reused its outputs (:func:`tasks.stage.run_stage`);
the next stage reads the files through the store, which checks each reference's content hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.stage import StageResult
from tasks.store import ArtifactRef


@dataclass(frozen=True)
class Ingested(StageResult):
    """01_ingest: the canonical table rebuilt from every accepted file, and the revision log.

    ``arrivals`` (one line per file received by this run) belongs to the run, not to the outputs:
    it is never stored in the manifest.
    """

    canonical: ArtifactRef
    revisions: ArtifactRef
    arrivals: list[str] = field(default_factory=list, metadata={"manifest": False})


@dataclass(frozen=True)
class Validated(StageResult):
    """02_validate: the rows that passed, those quarantined with their reasons, the gaps, the Data Docs."""

    valid: ArtifactRef
    quarantine: ArtifactRef
    gaps: ArtifactRef
    data_docs: ArtifactRef
    summary: dict[str, Any]


@dataclass(frozen=True)
class Scaled(StageResult):
    """03_scale: the gap-explicit daily series per region (scaled) and the scaler parameters."""

    scaled: ArtifactRef
    scaler: ArtifactRef
    frequency: str = "daily"


@dataclass(frozen=True)
class Trained(StageResult):
    """04_train: the registered model used for this run (its files) and what each region trains on."""

    model: ArtifactRef
    scaler: ArtifactRef
    history: ArtifactRef
    model_card: ArtifactRef
    plan: ArtifactRef
    model_id: str

    def manifest_extra(self) -> dict[str, Any]:
        # The model used and why, at the manifest's top level as before (tools read them there).
        return {"model_id": self.model_id, "decision": self.status}


@dataclass(frozen=True)
class Predicted(StageResult):
    """05_predict: the study model's target and driver predictions per region, in counts, and the
    driver-conditioned forecaster's walk-forward forecasts (tasks/forecast.py)."""

    predictions: ArtifactRef
    forecasts: ArtifactRef | None = None


@dataclass(frozen=True)
class Extracted(StageResult):
    """06_extract: the hotspot table, every detector's rows, and the days that could not be scored."""

    hotspots: ArtifactRef
    unscored: ArtifactRef
    detections: ArtifactRef


@dataclass(frozen=True)
class Reported(StageResult):
    """07_report: the tables and figures of the run date (``latest/`` is switched by publish)."""

    report: ArtifactRef
    unscored: ArtifactRef
    detections: ArtifactRef
    regions: ArtifactRef
    figures: dict[str, ArtifactRef]
