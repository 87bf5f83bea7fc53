import numpy as np
import pandas as pd
import pytest

from tasks.config import DETECTOR_NAMES
from tasks.detectors.schema import DetectorConfig
from tasks.extract import (
    apply_verdicts,
    detect_all,
    detector_inputs,
    deviation_pct,
    extract_hotspots,
    flag_hotspots,
    rows_of,
)
from tasks.schemas import DETECTION_COLUMNS, HOTSPOT_COLUMNS, MODEL_COLUMNS, STUDY_COLUMNS


def test_deviation_edge_cases() -> None:
    actual = np.array([100.0, 0.0, 1.0, 50.0, np.nan, 10.0])
    predicted = np.array([110.0, 3.0, -1.0, np.nan, 5.0, 9.0])
    np.testing.assert_allclose(deviation_pct(actual, predicted), [10.0, np.nan, 200.0, np.nan, np.nan, 10.0])


def test_rows_of_gives_the_regions_rows_in_table_order() -> None:
    table = pd.DataFrame({"region": ["b", "a", "b", "c", "a"], "v": range(5)})
    index = table.groupby("region", sort=False).indices
    assert rows_of(index, np.array(["a", "b"])).tolist() == [0, 1, 2, 4]
    assert rows_of(index, np.array(["c", "missing"])).tolist() == [3]
    assert table.iloc[rows_of(index, np.array(["missing"]))].empty
    chunk = np.array(["c", "a"])
    assert table.iloc[rows_of(index, chunk)].equals(table[table["region"].isin(set(chunk))])


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
    assert list(report.columns) == STUDY_COLUMNS + MODEL_COLUMNS
    assert report["trained_on"].tolist() == ["driver", "driver"]
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


def _detections(rows: list[tuple[str, str, bool, str]]) -> pd.DataFrame:
    """(day, detector, is_hotspot, note) -> minimal detection rows of region CN."""
    frame = pd.DataFrame(rows, columns=["date", "detector", "is_hotspot", "note"])
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[us]")
    frame["region"] = "CN"
    for col in ("actual", "expected", "lower", "upper", "score", "p_value", "p_surge", "p_drop", "driver"):
        frame[col] = 1.0
    frame["direction"] = np.where(frame["is_hotspot"], "surge", "none")
    frame["severity"] = np.where(frame["is_hotspot"], "alarm", "none")
    frame["guard_blocked"] = False
    frame["driver_anomaly"] = "none"
    return frame[DETECTION_COLUMNS]


def test_apply_verdicts_keeps_the_study_and_takes_the_deciders_verdict() -> None:
    study = pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-03", "2022-01-04"]).astype("datetime64[us]"),
            "region": "CN",
            "actual": [0, 50],
            "predicted": [3.0, 20.0],
            "deviation_pct": [np.nan, 60.0],
            "is_hotspot": [False, True],
            "note": ["deviation undefined: actual = 0", ""],
            "trained_on": "driver",
            "model_note": "",
        }
    )
    detections = _detections(
        [
            ("2022-01-03", "seed", False, ""),
            ("2022-01-03", "ears_c1", False, "baseline has 1 missing day(s)"),
            ("2022-01-03", "lstm_ewma", False, "only 3 past residual(s)"),
            ("2022-01-04", "lstm_ewma", True, ""),
            ("2022-01-04", "seed", True, ""),
            ("2022-01-04", "ears_c1", True, ""),
        ]
    )
    out = apply_verdicts(study, detections, "ears_c1")
    assert list(out.columns) == HOTSPOT_COLUMNS
    assert out["study_hotspot"].tolist() == [False, True]
    assert out["is_hotspot"].tolist() == [False, True]
    assert out["detector"].tolist() == ["ears_c1", "ears_c1"]
    assert out["agreeing"].tolist() == ["", "seed,ears_c1,lstm_ewma"]  # registry order, not row order
    assert out["note"].tolist() == ["deviation undefined: actual = 0; ears_c1: baseline has 1 missing day(s)", ""]
    assert out["severity"].tolist() == ["none", "alarm"]
    assert out["forecast_on"].tolist() == ["none", "none"] and out["driver_effect"].isna().all()
    forecasts = pd.DataFrame(
        {"date": study["date"], "region": "CN", "driver_effect": [np.nan, 4.5], "forecast_on": "target",
         "forecast_note": "only 12 complete driver window(s)"}
    )  # fmt: skip
    out = apply_verdicts(study, detections, "ears_c1", forecasts)
    assert list(out.columns) == HOTSPOT_COLUMNS and out["forecast_on"].tolist() == ["target", "target"]
    assert np.isnan(out["driver_effect"].iloc[0]) and out["driver_effect"].iloc[1] == 4.5
    expected = "forecaster on the target's own history: only 12 complete driver window(s)"
    assert out["model_note"].tolist() == [expected, expected]


def test_detect_all_runs_every_detector_on_a_gap_explicit_calendar() -> None:
    days = 40
    dates = pd.date_range("2022-01-01", periods=days, freq="D", unit="us")
    level = 100 + 10 * np.sin(np.arange(days) / 5.0)
    target = pd.DataFrame({"date": dates, "region": "CN", "role": "target", "actual": level, "predicted": level})
    driver = target.assign(role="driver", actual=3 * level)
    predictions = pd.concat([target, driver.drop(index=10)])  # the driver has no row on day 10
    frame, forecast = detector_inputs(predictions, "CN")
    assert len(frame) == days and np.isnan(frame["driver"].iloc[10]) and not frame["actual"].isna().any()
    np.testing.assert_allclose(forecast, level)
    out = detect_all(predictions, DetectorConfig())
    assert list(out.columns) == DETECTION_COLUMNS
    assert len(out) == days * len(DETECTOR_NAMES)
    assert out.groupby("detector", sort=False).size().index.tolist() == list(DETECTOR_NAMES)
    assert out["driver"].isna().sum() == len(DETECTOR_NAMES)  # the driver gap stays a gap
    # a perfect forecast: no calibrated or EWMA detector flags anything
    assert not out.loc[out["detector"].str.endswith(("_calibrated", "_ewma")), "is_hotspot"].any()


def test_detectors_in_region_chunks_equal_one_pass_over_every_region() -> None:
    # 60 regions of different lengths (1 to 70 days), start dates, gaps and levels, some without a driver:
    # chunked (as extract runs them, here or on Dask) and in one pass, the detections are the same table.
    from tasks.extract import detect_chunk
    from tasks.scaleout import region_chunks, stack

    rng = np.random.default_rng(4)
    parts = []
    for k in range(60):
        days = int(rng.integers(1, 71))
        dates = pd.date_range("2022-01-01", periods=days, freq="D", unit="us") + pd.Timedelta(days=int(k % 9))
        level = float(rng.choice([0.5, 5.0, 80.0, 900.0]))
        actual = rng.poisson(level, days).astype("float64")
        actual[rng.random(days) < 0.1] = np.nan  # gaps
        predicted = np.where(np.arange(days) < 2, np.nan, level)
        target = pd.DataFrame({"date": dates, "region": f"R{k:02d}", "role": "target", "actual": actual,
                               "predicted": predicted})  # fmt: skip
        driver = target.assign(role="driver", actual=np.nan if k % 5 == 0 else 3 * actual)
        parts += [target, driver]
    predictions = pd.concat(parts, ignore_index=True)
    config = DetectorConfig()
    whole = detect_all(predictions, config)
    chunked = stack([detect_chunk((rows, None), config) for rows in region_chunks(predictions, 7)], whole.iloc[:0])
    assert whole["region"].nunique() == 60
    pd.testing.assert_frame_equal(whole, chunked)


def odd_regions(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n regions of 1-150 days with gaps, offset starts, zero and large counts, regions without a driver,
    negative and missing LSTM forecasts, and a forecaster table with missing days -> (predictions, forecasts)."""
    rng = np.random.default_rng(seed)
    parts, forecasts = [], []
    for k in range(n):
        days = int(rng.integers(1, 151))
        dates = pd.date_range("2022-01-01", periods=days, freq="D", unit="us") + pd.Timedelta(days=int(k % 13))
        level = float(rng.choice([0.0, 0.5, 5.0, 80.0, 900.0]))
        actual = rng.poisson(level, days).astype("float64")
        actual[rng.random(days) < 0.1] = np.nan  # gaps
        if days > 40 and k % 3 == 0:
            actual[30:33] += 10 * np.sqrt(level + 1)  # a surge
        predicted = np.where(np.arange(days) < 2, np.nan, level + rng.normal(0, 2 + level / 10, days))
        target = pd.DataFrame({"date": dates, "region": f"R{k:03d}", "role": "target", "actual": actual,
                               "predicted": predicted})  # fmt: skip
        driver = target.assign(role="driver", actual=np.nan if k % 5 == 0 else 3 * actual)
        parts += [target, driver if k % 7 else driver.iloc[: days // 2]]  # some drivers end early
        if k % 11:  # some regions have no forecaster rows at all
            mean = np.where(rng.random(days) < 0.2, np.nan, level * rng.uniform(0.8, 1.2, days))
            spread = np.abs(rng.normal(0, 1 + level / 20, days))
            forecasts.append(pd.DataFrame({"date": dates, "region": f"R{k:03d}", "forecast": mean,
                                           "forecast_spread": spread}))  # fmt: skip
    return pd.concat(parts, ignore_index=True), pd.concat(forecasts, ignore_index=True)


def one_region_at_a_time(predictions: pd.DataFrame, config: DetectorConfig, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Every detector run on each region alone (no batching): what detect_all has to equal."""
    from tasks.detectors.registry import NAMES
    from tasks.detectors.run import run_detectors
    from tasks.extract import driver_anomaly, ensemble_inputs

    by_region = dict(iter(forecasts.groupby("region", sort=False)))
    parts = []
    for region, rows in predictions.groupby("region", sort=True):
        frame, forecast = detector_inputs(rows, str(region))
        ensemble = ensemble_inputs(by_region.get(region), str(region), frame["date"])
        detected = run_detectors(frame, list(NAMES), forecast, config, ensemble=ensemble)
        detected.insert(1, "region", str(region))
        detected["driver"] = np.tile(frame["driver"].to_numpy(), len(NAMES))
        detected["driver_anomaly"] = np.tile(driver_anomaly(frame, config), len(NAMES))
        parts.append(detected)
    out = pd.concat(parts, ignore_index=True)[DETECTION_COLUMNS]
    out["date"] = out["date"].astype("datetime64[us]")
    return out.astype({"region": "str", "detector": "str", "direction": "str", "severity": "str", "note": "str"})


SHORT_SURGE = {"direction": "surge", "calibration_window_days": 14, "min_calibration_days": 7}


@pytest.mark.parametrize(
    "settings",
    [{}, SHORT_SURGE | {"forecast_spread": False, "predictive_correction": False}],
    ids=["defaults", "surge-short-window"],
)
def test_detectors_over_many_regions_at_once_equal_each_region_alone(settings: dict) -> None:
    # The calibrated models of a chunk are computed in one vectorised pass (tasks/detectors/batch.py): every
    # value, note and verdict must be what the region gets alone, on 200 awkward regions.
    predictions, forecasts = odd_regions(200, seed=16)
    config = DetectorConfig(**settings)
    batched = detect_all(predictions, config, forecasts)
    alone = one_region_at_a_time(predictions, config, forecasts)
    assert batched["region"].nunique() == 200 and batched["is_hotspot"].any() and batched["note"].str.len().gt(0).any()
    pd.testing.assert_frame_equal(batched, alone, check_exact=True)
