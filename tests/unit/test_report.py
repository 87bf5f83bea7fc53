from datetime import date

import pandas as pd

from tasks.report import build_report, summary_markdown, table_records


def hotspots() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-03", "2022-01-04", "2022-01-05"]).astype("datetime64[us]"),
            "region": ["CN"] * 3,
            "actual": [10, 0, 30],
            "predicted": [20.0, 1.0, 31.0],
            "deviation_pct": [100.0, float("nan"), 3.3],
            "is_hotspot": [True, False, False],
            "note": ["", "deviation undefined: actual = 0", ""],
        }
    )


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
    again = build_report(hotspots(), revisions(), previous=report, target="confirmed", model_id="m1")
    assert not again["is_new"].any()


def test_summary_and_records() -> None:
    report = build_report(hotspots(), revisions(), None, "confirmed", "m1")
    unscored = pd.DataFrame({"date": [], "region": [], "reason": []})
    text = summary_markdown(report, unscored, date(2022, 1, 6), 10.0, {"ingest": "ran", "train": "skipped (x)"})
    assert "- hotspots (deviation > 10 %): **1** (33%), new since the previous report: **1**" in text
    assert "| train | skipped (x) |" in text
    assert "days with actual = 0 (deviation undefined, never a hotspot): 1" in text
    records = table_records(report)
    assert records[1]["deviation_pct"] is None and records[0]["date"] == "2022-01-03"
