"""What a run publishes, without a Prefect server: figure artifacts, alert events, provenance, the report view."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tasks.config import PipelineConfig
from tasks.provenance import config_hash, experiment_name, header_line, provenance
from tasks.report.alerts import (
    ALERT_EVENT,
    BATCH_EVENT,
    MAX_LISTED,
    alert_message,
    batch_event,
    new_hotspots,
    region_events,
    unalerted,
)
from tasks.report.artifacts import MAX_PREVIEW_CHARS, PREVIEW_WIDTH, _uri_chars, data_uri, figure_markdown, fit_png


def _plot_png() -> bytes:
    from matplotlib.figure import Figure

    from tasks.report.artifacts import figure_png

    figure = Figure(figsize=(10, 4.5), layout="constrained")
    x = np.arange(200)
    figure.add_subplot().plot(x, np.sin(x / 9) + np.random.default_rng(0).normal(0, 0.2, 200))
    return figure_png(figure, 110)


def _noise_png(px: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (px, px, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


# -- figures -----------------------------------------------------------------------------------------


def test_a_png_within_the_budget_is_kept_byte_for_byte() -> None:
    png = _plot_png()
    fitted = fit_png(png, 1_000_000)
    assert fitted.png == png and fitted.reduced == "" and (fitted.width, fitted.height) == (1100, 495)


def test_a_png_over_the_budget_is_reduced_until_it_fits() -> None:
    png = _noise_png(1500)  # noise does not compress: ~6.7 MB of PNG
    assert _uri_chars(len(png)) > 1_000_000
    fitted = fit_png(png, 1_000_000)
    assert len(data_uri(fitted.png)) <= 1_000_000
    assert fitted.reduced.startswith("256 colours, scaled from 1500 x 1500 px") and fitted.width < 1500


def test_a_budget_nothing_fits_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot be made to fit 100 characters"):
        fit_png(_plot_png(), 100)


def test_the_artifact_has_the_figure_and_its_card_a_one_line_preview() -> None:
    body, card = figure_markdown(_plot_png(), "Target [CN]", "Actual vs predicted.\n\nSecond paragraph.")
    assert body.startswith("### Target [CN]\n\n![Target CN](data:image/png;base64,")
    assert "*1100 x 495 px PNG" in body and "the full-size file is in the store" in body
    assert "\n" not in card  # the V1 UI shows a description's first line only
    assert card.startswith("Actual vs predicted. Second paragraph. ![Target CN (preview)](data:image/png;base64,")
    preview = card.split("](", 1)[1].rstrip(")")
    assert len(preview) <= MAX_PREVIEW_CHARS
    import base64

    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(preview.removeprefix("data:image/png;base64,"))))
    assert image.size[0] <= PREVIEW_WIDTH


# -- alerts ------------------------------------------------------------------------------------------


def _report(rows: list[tuple[str, str, bool, bool]]) -> pd.DataFrame:
    """(region, date, is_hotspot, is_new) rows -> a report with the columns alerts read."""
    frame = pd.DataFrame(rows, columns=["region", "date", "is_hotspot", "is_new"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.assign(
        period=frame["date"].dt.strftime("%Y-%m-%d"), direction="surge", severity="alarm", actual=12,
        expected=3.256, p_value=0.000123, detector="lstm_ewma",
    )  # fmt: skip


def test_only_new_hotspots_not_alerted_before_are_alerted() -> None:
    report = _report([("CN", "2022-06-01", True, True), ("CN", "2022-06-02", True, False),
                      ("Beijing", "2022-06-02", True, True), ("Beijing", "2022-06-03", False, True),
                      ("Jilin", "2022-06-04", True, True)])  # fmt: skip
    ledger = pd.DataFrame({"region": ["Jilin"], "date": pd.to_datetime(["2022-06-04"]), "run_date": ["2026-11-01"]})
    new = new_hotspots(unalerted(report, ledger))
    assert [(h["region"], h["date"]) for h in new] == [("Beijing", "2022-06-02"), ("CN", "2022-06-01")]
    assert new[0] == {"region": "Beijing", "date": "2022-06-02", "period": "2022-06-02", "direction": "surge",
                      "severity": "alarm", "actual": 12, "expected": 3.26, "p_value": "0.00012",
                      "detector": "lstm_ewma"}  # fmt: skip


def test_one_event_per_region_and_one_batch_for_the_run() -> None:
    new = new_hotspots(_report([("CN", "2022-06-01", True, True), ("CN", "2022-06-05", True, True),
                                ("Beijing", "2022-06-02", True, True)]))  # fmt: skip
    events = region_events(new, "07_report/run_date=2026-12-01/report.parquet")
    assert [e["event"] for e in events] == [ALERT_EVENT, ALERT_EVENT]
    assert [e["resource"]["prefect.resource.id"] for e in events] == ["hotspot.region.Beijing", "hotspot.region.CN"]
    assert [e["payload"]["count"] for e in events] == [1, 2]
    batch = batch_event(new, "/srv/store", "2026-12-01", "07_report/run_date=2026-12-01/report.parquet")
    assert batch["event"] == BATCH_EVENT and batch["resource"]["prefect.resource.id"] == "hotspot.store./srv/store"
    assert batch["payload"]["count"] == 3 and batch["payload"]["regions"] == ["Beijing", "CN"]
    assert (
        batch["payload"]["message"]
        == "3 new hotspot(s) in 2 region(s): Beijing (2022-06-02), CN (2022-06-01, 2022-06-05)"
    )
    assert [r["prefect.resource.role"] for r in batch["related"]] == ["region", "region"]


def test_a_batch_lists_at_most_max_listed_but_counts_all() -> None:
    days = pd.date_range("2022-01-01", periods=MAX_LISTED + 7).strftime("%Y-%m-%d")
    new = new_hotspots(_report([("CN", d, True, True) for d in days]))
    payload = batch_event(new, "s", "2026-12-01", "r")["payload"]
    assert payload["count"] == MAX_LISTED + 7 and payload["listed"] == MAX_LISTED == len(payload["hotspots"])
    assert alert_message(new).endswith("CN (2022-01-01, 2022-01-02, 2022-01-03 ...)")
    assert alert_message([]) == "no new hotspot"


# -- provenance --------------------------------------------------------------------------------------


def test_the_daily_record_and_experiments() -> None:
    default, changed = PipelineConfig(), PipelineConfig.model_validate({"train": {"epochs": 3}})
    assert experiment_name(default, "auto", None) is None  # the hotspot command, tests
    assert experiment_name(default, "auto", "daily") is None  # the schedule
    assert experiment_name(changed, "auto", None) is None  # outside deployments the operator chose the store
    assert experiment_name(changed, "auto", "daily") == f"daily-{config_hash(changed)}"
    assert experiment_name(default, "auto", "manual") == f"manual-{config_hash(default)}"
    assert experiment_name(changed, "daily", "manual") is None  # asked for explicitly
    assert experiment_name(default, "experiment", None, "try-2") == "try-2"
    assert config_hash(default) == config_hash(PipelineConfig()) != config_hash(changed)
    assert len(config_hash(default)) == 12


def test_provenance_names_the_run_and_the_header_says_it_in_one_line() -> None:
    about = provenance(PipelineConfig(), date(2026, 12, 1), flow_run_id="f-1", flow_run_name="brave-fox",
                       deployment="daily", experiment=None, versions={"prefect": "3.9.1"})  # fmt: skip
    assert about["record"] == "daily" and about["config"] == PipelineConfig().model_dump(mode="json")
    meta = about | {"model_id": "abc123"}
    line = header_line(meta, "/srv/store")
    assert line == (f"store /srv/store, run date 2026-12-01, daily record, model abc123, config "
                    f"{config_hash(PipelineConfig())}, flow run brave-fox of deployment daily")  # fmt: skip
    assert header_line(meta, "/srv/store", "2026-12-02").endswith("(computed for run date 2026-12-01, reused)")
    assert "before provenance was recorded" in header_line({}, "/srv/store", "2026-12-02")
