import numpy as np
import pandas as pd
import pytest

from tasks.extract import REPORT_COLUMNS, deviation_pct, extract_hotspots, flag_hotspots


def test_deviation_edge_cases() -> None:
    actual = np.array([100.0, 0.0, 1.0, 50.0, np.nan, 10.0])
    predicted = np.array([110.0, 3.0, -1.0, np.nan, 5.0, 9.0])
    np.testing.assert_allclose(deviation_pct(actual, predicted), [10.0, np.nan, 200.0, np.nan, np.nan, 10.0])


def test_threshold_is_strict_and_undefined_is_never_a_hotspot() -> None:
    flags = flag_hotspots(np.array([10.0, 10.0001, np.nan, 0.0, 250.0]), 10.0)
    assert flags.tolist() == [False, True, False, False, True]


def test_extract_scores_target_and_explains_unscored_days() -> None:
    dates = pd.date_range("2022-01-01", periods=6, freq="D", unit="us")
    target = pd.DataFrame(
        {
            "date": dates,
            "region": "CN",
            "role": "target",
            "actual": [5.0, 6.0, 0.0, np.nan, 8.0, 9.0],
            "predicted": [np.nan, np.nan, 1.0, np.nan, np.nan, 12.0],
        }
    )
    driver = target.assign(role="driver", actual=1.0, predicted=1.0)
    report, unscored = extract_hotspots(pd.concat([target, driver]), threshold_pct=10.0, look_back=2)
    assert list(report.columns) == REPORT_COLUMNS
    assert report["date"].dt.day.tolist() == [3, 6]
    assert report["actual"].tolist() == [0, 9]
    assert np.isnan(report["deviation_pct"].iloc[0])
    assert report["deviation_pct"].iloc[1] == pytest.approx(100.0 / 3)
    assert report["is_hotspot"].tolist() == [False, True]
    assert report["note"].tolist() == ["deviation undefined: actual = 0", ""]
    assert unscored["date"].dt.day.tolist() == [1, 2, 4, 5]
    assert unscored["reason"].tolist() == [
        "first 2 day(s) of the series: not enough history",
        "first 2 day(s) of the series: not enough history",
        "no published figure for the target on this day",
        "window touches missing day(s): 2022-01-04",
    ]
