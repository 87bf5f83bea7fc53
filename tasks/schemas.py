"""The column contracts between stages: what each stage's tables hold, in one place.

Every stage imports the columns it writes and reads from here instead of from the stage that writes
them, so a change of a table is one edit and the dependencies between stages stay visible.
Types and meanings are documented where each table is produced.
"""

from __future__ import annotations

COUNT_COLUMNS = ["confirmed", "asymptomatic"]
"""The count columns of the canonical table (their meaning: tasks/ingest.py)."""

# -- ingest (01_ingest) -------------------------------------------------------------------------
CANONICAL_COLUMNS = ["date", "region", *COUNT_COLUMNS, "source_file", "source_row", "ingest_error"]
"""canonical.parquet: one row per (region, date) as received (duplicates are the validator's job)."""
REVISION_COLUMNS = ["region", "date", "column", "old_value", "new_value", "source_file"]
"""revisions.parquet: every change of a published value."""

# -- validate (02_validate) ---------------------------------------------------------------------
KEY_COLUMNS = ("region", "date")
VALID_COLUMNS = ["date", "region", *COUNT_COLUMNS, "source_row"]
"""valid.parquet: the rows that passed every rule."""
QUARANTINE_COLUMNS = [*CANONICAL_COLUMNS, "reason", "expectation"]
"""quarantine.parquet: the rows that failed a rule, as received, with the reason."""
GAP_COLUMNS = ["region", "date", "column", "kind"]
"""gaps.parquet: empty cells and missing calendar days (reported, never filled)."""

# -- scale (03_scale) ---------------------------------------------------------------------------
SCALED_COLUMNS = ["date", "region", "target", "driver", "target_scaled", "driver_scaled"]
"""scaled.parquet: gap-explicit daily series per region, raw and min-max scaled."""

# -- predict (05_predict) -----------------------------------------------------------------------
PREDICTION_COLUMNS = [
    "date", "region", "role", "actual", "predicted", "actual_scaled", "predicted_scaled", "trained_on", "model_note",
]  # fmt: skip
"""predictions.parquet: one row per region, day and role; ``trained_on`` is driver, target or none."""
ROLES = ("target", "driver")
FORECAST_COLUMNS = [
    "date", "region", "forecast", "forecast_spread", "driver_effect", "fit_day", "forecast_on", "forecast_note",
]  # fmt: skip
"""forecasts.parquet: the driver-conditioned forecaster's walk-forward forecast of the target per region and day
(tasks/forecast.py): ensemble mean and member sd in counts, what the day's driver added, the day its model was
fitted, and ``forecast_on`` (driver, target, none) with the reason when the driver was not an input."""

# -- detectors ----------------------------------------------------------------------------------
DETECTOR_OUTPUT_COLUMNS = [
    "date", "detector", "actual", "expected", "lower", "upper", "score", "p_value", "p_surge", "p_drop",
    "direction", "severity", "is_hotspot", "guard_blocked", "note",
]  # fmt: skip
"""One detector's rows for one series (the meaning of each column: tasks/detectors/schema.py)."""

# -- extract (06_extract) -----------------------------------------------------------------------
STUDY_COLUMNS = ["date", "region", "actual", "predicted", "deviation_pct", "is_hotspot", "note"]
"""The study's table (``is_hotspot`` here is the study's verdict; see tasks/extract.py apply_verdicts)."""
VERDICT_COLUMNS = [
    "study_hotspot", "detector", "expected", "lower", "upper", "score", "p_value", "direction", "severity", "agreeing",
]  # fmt: skip
"""Added per day by extract: the study's verdict and the deciding detector's numbers."""
MODEL_COLUMNS = ["trained_on", "model_note"]
"""Per region: the series its model was trained on (driver, or target as the fallback) and why not the driver."""
DRIVER_COLUMNS = ["driver_anomaly", "driver_effect", "forecast_on"]
"""Per day, what the driver did: ``driver_anomaly`` (surge, drop or none: the driver series itself scored by
DRIVER_DETECTOR; "" where it has no value), ``driver_effect`` (what the day's driver added to the forecaster's
expected count, in cases; NaN without a driver input) and ``forecast_on`` (driver, target or none: the
forecaster's inputs for the region)."""
DRIVER_DETECTOR = "naive_ewma"
"""The detector that scores the driver series for ``driver_anomaly`` (it needs no forecast of the driver)."""
HOTSPOT_COLUMNS = STUDY_COLUMNS + VERDICT_COLUMNS + MODEL_COLUMNS + DRIVER_COLUMNS
"""hotspots.parquet."""
DETECTION_COLUMNS = ["date", "region", *DETECTOR_OUTPUT_COLUMNS[1:], "driver", "driver_anomaly"]
"""detections.parquet: every detector's output row plus region, driver and driver_anomaly."""
UNSCORED_COLUMNS = ["date", "region", "reason"]
"""unscored.parquet: the days that could not be scored, and why."""

# -- report (07_report) -------------------------------------------------------------------------
REPORT_EXTRA_COLUMNS = ["revised", "is_new", "model_id"]
REPORT_TABLE_COLUMNS = (
    STUDY_COLUMNS + REPORT_EXTRA_COLUMNS + VERDICT_COLUMNS + MODEL_COLUMNS + ["period"] + DRIVER_COLUMNS
)
"""report.parquet: the original columns first, so positional readers keep working; new columns only at the end."""
REGION_COLUMNS = [
    "region", "hotspots", "new_hotspots", "study_hotspots", "days_scored", "days_unscored", "first_date",
    "last_date", "cases", "last_hotspot", "trained_on", "model_note",
]  # fmt: skip
"""regions.parquet: one row per region, ranked by hotspots, then new hotspots, then cases."""
