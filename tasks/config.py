"""Typed configuration: one frozen model per stage, nested in :class:`PipelineConfig`.

These models are the deployment parameters shown in the Prefect UI, so every field is
documented where it is defined. Defaults are the reference study's values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestConfig(_Frozen):
    default_region: str = Field(
        default="CN",
        description="Region code given to every row when the input has no region column.",
        min_length=1,
    )
    max_download_mb: float = Field(default=100, description="Largest file accepted from an input URL, in MB.", gt=0)
    download_timeout_s: float = Field(default=30, description="Seconds to wait for an input URL to answer.", gt=0)


class RetrainConfig(_Frozen):
    policy: Literal["always", "never", "when_stale"] = Field(
        default="when_stale",
        description=(
            "always: train every run; never: reuse the newest compatible model (train only if none exists); "
            "when_stale: reuse it unless it is older than max_age_days or the training windows grew by more "
            "than max_growth_pct. A model trained on exactly the same data is always reused."
        ),
    )
    max_age_days: int = Field(default=7, description="when_stale: retrain once the model is this many days old.", ge=0)
    max_growth_pct: float = Field(
        default=10.0, description="when_stale: retrain once the training windows grew by more than this.", ge=0
    )


class ValidateConfig(_Frozen):
    max_count: int = Field(
        default=10_000_000,
        description="Largest plausible daily count; larger values are quarantined as implausible.",
        gt=0,
    )


class SeriesConfig(_Frozen):
    target: str = Field(
        default="confirmed",
        description="Canonical column whose unexplained moves are hotspots (the study: local new confirmed).",
    )
    driver: str = Field(
        default="asymptomatic",
        description="Canonical column the model is trained on (the study: local new asymptomatic).",
    )
    region: str = Field(
        default="CN",
        description="Region whose series are modelled and scored ('CN' is the national series).",
        min_length=1,
    )


class TrainConfig(_Frozen):
    look_back: int = Field(default=2, description="Days of history the model sees per prediction.", ge=1, le=60)
    units: int = Field(default=4, description="LSTM hidden units.", ge=1, le=512)
    learning_rate: float = Field(default=0.01, description="Adam learning rate.", gt=0, le=1)
    beta_1: float = Field(default=0.9, description="Adam first-moment decay.", gt=0, lt=1)
    beta_2: float = Field(default=0.999, description="Adam second-moment decay.", gt=0, lt=1)
    epochs: int = Field(default=30, description="Passes over the training windows.", ge=1, le=10_000)
    batch_size: int = Field(default=3, description="Windows per optimizer step.", ge=1, le=100_000)
    seed: int = Field(default=42, description="Seed for weights and shuffling; same seed, same model.")


class ExtractConfig(_Frozen):
    threshold_pct: float = Field(
        default=10.0,
        description="A scored day is a hotspot when |actual - predicted| / actual x 100 exceeds this.",
        ge=0,
    )


class PipelineConfig(_Frozen):
    """Everything a run can be told; nested per stage."""

    series: SeriesConfig = Field(default_factory=SeriesConfig, description="Which series are target and driver.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Reading and canonicalising input.")
    validation: ValidateConfig = Field(default_factory=ValidateConfig, description="Data quality gate.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="LSTM model and optimizer.")
    retrain: RetrainConfig = Field(default_factory=RetrainConfig, description="When a new model is trained.")
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="Hotspot rule.")


def apply_overrides(config: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Return a copy of ``config`` with dotted-key overrides, e.g. ``{"train.epochs": 5}``.

    Values are validated by the models; an unknown key raises ``ValueError``.
    """
    data = config.model_dump()
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"unknown config key {dotted!r}")
            node = node[part]
        if leaf not in node or isinstance(node[leaf], dict):
            raise ValueError(f"unknown config key {dotted!r}")
        node[leaf] = value
    return PipelineConfig.model_validate(data)
