from datetime import date

import pandas as pd

from tasks.report.figures import plot_detection, plot_regions
from tasks.report.summary import summary_markdown
from tasks.report.table import build_report, primary_region, region_summary, table_records
from tasks.schemas import DETECTION_COLUMNS, HOTSPOT_COLUMNS, REGION_COLUMNS, REPORT_TABLE_COLUMNS


def hotspots() -> pd.DataFrame:
    """Three days: the decider (lstm_ewma) flags the first; the study's rule flags the first and the third."""
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-03", "2022-01-04", "2022-01-05"]).astype("datetime64[us]"),
            "region": ["CN"] * 3,
            "actual": [10, 0, 30],
            "predicted": [20.0, 1.0, 25.0],
            "deviation_pct": [100.0, float("nan"), 16.7],
            "is_hotspot": [True, False, False],
            "note": ["", "deviation undefined: actual = 0", ""],
            "study_hotspot": [True, False, True],
            "detector": ["lstm_ewma"] * 3,
            "expected": [3.0, 1.0, 28.0],
            "lower": [0.0, 0.0, 18.0],
            "upper": [8.0, 4.0, 40.0],
            "score": [3.1, -0.5, 0.4],
            "p_value": [0.001, 0.3, 0.35],
            "direction": ["surge", "none", "none"],
            "severity": ["alarm", "none", "none"],
            "agreeing": ["seed,lstm_ewma", "", "seed"],
            "trained_on": ["driver"] * 3,
            "model_note": [""] * 3,
            "driver_anomaly": ["none", "none", "surge"],
            "driver_effect": [0.5, float("nan"), 2.0],
            "forecast_on": ["driver"] * 3,
        }
    )[HOTSPOT_COLUMNS]


def revisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["CN", "CN"],
            "date": pd.to_datetime(["2022-01-05", "2022-01-04"]).astype("datetime64[us]"),
            "column": ["confirmed", "asymptomatic"],
            "old_value": [3.0, 1.0],
            "new_value": [30.0, 2.0],
            "source_file": ["b.csv", "b.csv"],
        }
    )


def test_report_marks_revised_target_days_new_hotspots_and_model() -> None:
    report = build_report(hotspots(), revisions(), previous=None, target="confirmed", model_id="m1")
    assert report["revised"].tolist() == [False, False, True]  # the driver revision does not count
    assert report["is_new"].tolist() == [True, False, False]
    assert (report["model_id"] == "m1").all()
    assert list(report.columns) == REPORT_TABLE_COLUMNS  # the original ten columns first, in their order
    assert REPORT_TABLE_COLUMNS[:10] == [
        "date", "region", "actual", "predicted", "deviation_pct", "is_hotspot", "note", "revised", "is_new", "model_id"
    ]  # fmt: skip
    again = build_report(hotspots(), revisions(), previous=report, target="confirmed", model_id="m1")
    assert not again["is_new"].any()


def test_summary_and_records() -> None:
    report = build_report(hotspots(), revisions(), None, "confirmed", "m1")
    unscored = pd.DataFrame({"date": [], "region": [], "reason": []})
    regions = region_summary(report, unscored)
    text = summary_markdown(
        report, unscored, regions, date(2022, 1, 6), 10.0, {"ingest": "ran", "train": "skipped (x)"}
    )
    assert (
        "- hotspots (decided by `lstm_ewma`): **1** (33%) in 1 region(s); 1 alarm; 1 surge; new since the previous "
        "report: **1**"
    ) in text
    assert "- the study's rule (deviation > 10 %) flags **2** (67%)" in text
    assert "- drop alerts (reported, not hotspots): 0" in text
    assert "| 2022-01-03 | CN | 10 | 3.0 | 0..8 | 0.001 | alarm surge | seed,lstm_ewma |" in text
    assert "- models: 1 region(s) trained on the driver, 0 on the target's own history" in text
    assert "| train | skipped (x) |" in text
    assert "days with actual = 0 (deviation undefined, never a study hotspot): 1" in text
    records = table_records(report)
    assert records[1]["deviation_pct"] is None and records[0]["date"] == "2022-01-03"


def test_detection_figure_draws_band_and_alerts_by_level() -> None:
    days = pd.date_range("2022-01-03", periods=5, freq="D", unit="us")
    rows = pd.DataFrame({"date": days, "region": "CN", "detector": "lstm_ewma", "actual": [5.0, 6, 30, 4, 1]})
    for col, values in {"expected": 5.0, "lower": 1.0, "upper": 10.0, "score": 0.0, "p_value": 0.5}.items():
        rows[col] = values
    rows[["p_surge", "p_drop", "driver"]] = 0.5
    rows["severity"] = ["none", "warning", "alarm", "none", "alarm"]
    rows["direction"] = ["none", "surge", "surge", "none", "drop"]
    rows["is_hotspot"] = [False, False, True, False, False]
    rows["guard_blocked"], rows["note"], rows["driver_anomaly"] = False, "", "none"
    fig = plot_detection(rows[DETECTION_COLUMNS], "lstm_ewma", "CN")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["band (not a hotspot inside)", "actual", "expected", "alarm, surge (1; hotspots)",
                      "alarm, drop (1; not hotspots)", "warning, surge (1; not hotspots)"]  # fmt: skip


def test_region_summary_ranks_regions_and_says_why_one_has_no_model() -> None:
    cn = build_report(hotspots(), revisions(), None, "confirmed", "m1")
    hb = cn.assign(region="HB", is_hotspot=False, is_new=False, trained_on="target", model_note="driver is constant")
    unscored = pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-01", "2022-01-01"]).astype("datetime64[us]"),
            "region": ["HB", "XZ"],
            "reason": ["first 2 day(s) of the series: not enough history", "region not modelled: no driver value"],
        }
    )
    regions = region_summary(pd.concat([hb, cn], ignore_index=True), unscored)
    assert list(regions.columns) == REGION_COLUMNS
    assert regions["region"].tolist() == ["CN", "HB", "XZ"]  # most hotspots first, then cases
    assert regions["hotspots"].tolist() == [1, 0, 0] and regions["cases"].tolist() == [40, 40, 0]
    assert regions["days_scored"].tolist() == [3, 3, 0] and regions["days_unscored"].tolist() == [0, 1, 1]
    assert regions["trained_on"].tolist() == ["driver", "target", "none"]
    assert regions["model_note"].tolist() == ["", "driver is constant", "not modelled: no driver value"]
    assert regions["last_hotspot"].iloc[0] == pd.Timestamp("2022-01-03") and pd.isna(regions["last_hotspot"].iloc[1])
    assert primary_region(regions) == "CN" and primary_region(regions.iloc[1:]) == "HB"
    quiet = region_summary(pd.concat([hb, cn.assign(is_hotspot=False)], ignore_index=True), unscored)
    assert quiet["last_hotspot"].isna().all() and str(quiet["last_hotspot"].dtype) == "datetime64[us]"


def test_top_regions_figure_has_one_panel_per_region() -> None:
    days = pd.date_range("2022-01-03", periods=3, freq="D", unit="us")
    rows = []
    for region in ("A", "B", "C", "D"):
        frame = pd.DataFrame({"date": days, "region": region, "detector": "lstm_ewma", "actual": [1.0, 2.0, 9.0]})
        rows.append(frame)
    detections = pd.concat(rows, ignore_index=True)
    for col in ("expected", "lower", "upper", "score", "p_value", "p_surge", "p_drop", "driver"):
        detections[col] = 1.0
    detections["severity"], detections["direction"], detections["is_hotspot"] = "none", "none", False
    detections["guard_blocked"], detections["note"], detections["driver_anomaly"] = False, "", "none"
    regions = pd.DataFrame({"region": ["B", "A", "C", "D"], "hotspots": [2, 1, 0, 0], "trained_on": "driver"})
    fig = plot_regions(detections[DETECTION_COLUMNS], regions, "lstm_ewma")
    assert [ax.get_title() for ax in fig.axes] == [
        "B: 2 hotspot(s), driver", "A: 1 hotspot(s), driver", "C: 0 hotspot(s), driver", "D: 0 hotspot(s), driver"
    ]  # fmt: skip


def test_band_cells_say_why_an_edge_is_missing_and_p_values_keep_two_digits() -> None:
    from tasks.report.table import band_text, p_text

    nan = float("nan")
    assert band_text(3, 1234.4) == "3..1,234"
    assert band_text(nan, 38) == "..38 (one-sided: no lower edge)"
    ewma = "lstm_ewma: the previous days alone put the EWMA past the surge level"
    assert band_text(7, nan, ewma) == "7.. (no upper edge: the previous periods alone put the EWMA past the level)"
    assert band_text(nan, nan, ewma) == "none: the previous periods alone put the EWMA past the level"
    assert band_text(nan, nan, "lstm_ewma: only 3 past residual(s) in the last 28 days (< 7) to calibrate; x") == (
        "none: lstm_ewma: only 3 past residual(s) in the last 28 days (< 7) to calibrate"
    )
    assert band_text(nan, nan, "") == "none: not scored"
    assert [p_text(v) for v in (4.34e-05, 0.00821, 0.3149, nan)] == ["4.3e-05", "0.0082", "0.31", "-"]
    records = table_records(pd.DataFrame({"lower": [nan], "upper": [nan], "note": [ewma], "p_value": [0.000123]}))
    assert records == [{"band": "none: the previous periods alone put the EWMA past the level", "lower": None,
                        "upper": None, "note": ewma, "p_value": "0.00012"}]  # fmt: skip
