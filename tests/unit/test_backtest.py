"""Backtest core: simulation shape, outbreak injection, scoring on hand-made masks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks import lstm
from tasks.config import DETECTOR_NAMES, PipelineConfig
from tasks.detectors.schema import DetectorConfig, detector_config
from tasks.evaluation.backtest import REAL, real_series, run_backtest
from tasks.evaluation.calibration import CALIBRATION_COLUMNS, calibration_summary
from tasks.evaluation.events import EVENT_SCENARIOS, simulate_events
from tasks.evaluation.forecasts import lstm_forecasts
from tasks.evaluation.metrics import (
    PER_SEED_COLUMNS,
    SUMMARY_COLUMNS,
    LabelledSeries,
    alarm_statistic,
    evaluate_scenario,
    f1_score,
    score_detections,
    summarise,
    threshold_for_far,
)
from tasks.evaluation.oracle import ORACLES, accumulating_oracle_rows, all_oracle_rows
from tasks.evaluation.simulate import SCENARIOS, inject_outbreaks, outbreak_profile, simulate_pair
from tasks.evaluation.tables import f1_pivot, pod_by_size, with_oracle_best
from tasks.predict import fit_and_predict
from tasks.scale import scale_series


def test_score_detections_hand_made() -> None:
    # days:       0  1  2  3  4  5  6  7  8  9
    ids = np.array([0, 1, 1, 1, 0, 0, 2, 2, 0, 0])
    alarm = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    result = score_detections(alarm, ids > 0, ids)
    # outbreak 1 (days 1-3) first alarmed on day 3 -> delay 2; outbreak 2 (days 6-7) missed
    assert result["pod"] == 0.5
    # non-outbreak days 0, 4, 5, 8, 9 -> alarms on 0 and 5 -> 2 / 5
    assert result["far"] == pytest.approx(0.4)
    # 3 alarms, 1 on an outbreak day
    assert result["ppv"] == pytest.approx(1 / 3)
    assert result["sensitivity"] == pytest.approx(1 / 5)
    assert result["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))  # 0.4
    assert result["median_delay"] == 2.0
    assert result["n_outbreaks"] == 2 and result["n_detected"] == 1
    # no alarm at all: PPV undefined, delay undefined
    none = score_detections(np.zeros(10, dtype=bool), ids > 0, ids)
    assert none["pod"] == 0.0 and math.isnan(none["ppv"]) and math.isnan(none["median_delay"])
    with pytest.raises(ValueError):
        score_detections(alarm, np.zeros(10, dtype=bool), ids)


def test_threshold_for_far_hand_made() -> None:
    scores = np.array([0.1, 0.5, 0.2, 9.0, 0.9, np.nan, 0.3, 0.4, 0.6, 0.7, 0.8, 5.0])
    mask = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    # 10 non-outbreak days (one NaN: it never alarms but counts in the denominator).
    # FAR 0.1 -> at most 1 false alarm -> threshold at the second-largest normal score 0.8
    assert threshold_for_far(scores, mask, 0.1) == 0.8
    # FAR 0.2 -> 2 false alarms -> 0.7; FAR 0.05 -> 0 -> the largest normal score 0.9
    assert threshold_for_far(scores, mask, 0.2) == 0.7
    assert threshold_for_far(scores, mask, 0.05) == 0.9
    thr = threshold_for_far(scores, mask, 0.1)
    alarms = np.isfinite(scores) & (scores > thr)
    assert (alarms & ~mask).sum() / (~mask).sum() <= 0.1
    # ties: alarming above a tied value never exceeds the target
    tied = np.array([1.0, 1.0, 1.0, 0.0])
    assert threshold_for_far(tied, np.zeros(4, dtype=bool), 0.25) == 1.0
    # FAR so generous that every scored day may alarm
    assert threshold_for_far(np.array([1.0, np.nan]), np.zeros(2, dtype=bool), 0.5) == -np.inf


def test_outbreak_profile_is_a_distribution() -> None:
    profile = outbreak_profile(2.0)
    assert profile.sum() == pytest.approx(1.0)
    # lognormal(0, 0.5) in 2-day units: median 2 days -> half the mass before day 2
    assert profile[:2].sum() == pytest.approx(0.5, abs=1e-6)  # up to the renormalised far tail


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_simulate_pair_shapes_and_levels(name: str) -> None:
    frame, mask, ids = simulate_pair(name, seed=1)
    sc = SCENARIOS[name]
    assert list(frame.columns) == ["date", "actual", "driver"]
    assert len(frame) == sc.n_days == mask.size == ids.size
    assert np.array_equal(mask, ids > 0)
    assert (frame["actual"] >= 0).all() and (frame["driver"] >= 0).all()
    assert not mask[: sc.warmup_days].any()
    info = frame.attrs["outbreaks"]
    assert 1 <= len(info) <= sc.n_outbreaks
    for item in info:  # contiguous ids, mask from the first to the last injected day
        days = np.flatnonzero(ids == item["id"])
        assert days[0] == item["start"] and days[-1] == item["end"] and np.all(np.diff(days) == 1)
    # baseline level is the scenario's (within the trend and wave spread)
    level = frame.attrs["target_mean"][:56].mean()
    assert sc.target_mean / 2 < level < sc.target_mean * 2
    # same seed, same series
    again, _, _ = simulate_pair(name, seed=1)
    pd.testing.assert_frame_equal(frame, again)


def test_target_follows_lagged_driver() -> None:
    frame, mask, _ = simulate_pair("high", seed=4)
    sc = SCENARIOS["high"]
    y, d = frame["actual"].to_numpy(), frame["driver"].to_numpy()
    ratio = y[sc.lag :][~mask[sc.lag :]].sum() / d[: -sc.lag][~mask[sc.lag :]].sum()
    assert ratio == pytest.approx(sc.ratio, rel=0.1)


def test_inject_outbreaks_into_real_like_series() -> None:
    actual = np.r_[np.full(40, 100.0), np.nan, np.full(39, 100.0)]
    real = pd.DataFrame({"date": pd.date_range("2022-05-14", periods=80), "actual": actual, "driver": 3 * actual})
    injected, mask, ids = inject_outbreaks(real, seed=2, n_outbreaks=2)
    assert injected["actual"].isna().sum() == 1  # the missing day stays missing
    added = np.nansum(injected["actual"].to_numpy() - actual)
    assert added > 0 and mask.any() and set(np.unique(ids)) <= {0, 1, 2}
    assert (injected["actual"].to_numpy()[~mask] == actual[~mask])[~np.isnan(actual[~mask])].all()
    pd.testing.assert_series_equal(injected["driver"], real["driver"])  # the target only


# ---------------------------------------------------------------------------------------------
# evaluation of detectors (exact small cases) and the real-LSTM backtest (slow)


def _series(ids: list[int], k: float) -> LabelledSeries:
    ids_arr = np.array(ids)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=len(ids), freq="D"), "actual": 1.0})
    days = np.flatnonzero(ids_arr)
    frame.attrs["outbreaks"] = [{"id": 1, "start": int(days[0]), "end": int(days[-1]), "k": k, "size": 9.0}]
    return LabelledSeries(frame, ids_arr > 0, ids_arr, np.ones(len(ids), dtype=bool))


def _rows(scores: list[float], threshold: float = 3.0, name: str = "ears_c1") -> pd.DataFrame:
    score = np.array(scores)
    return pd.DataFrame({"detector": name, "score": score, "is_hotspot": score > threshold, "guard_blocked": False})


def test_evaluate_and_summarise_hand_made() -> None:
    # A: outbreak on days 1-2, alarms on day 2 (hit, delay 1) and day 4 (false). B: outbreak on days 5-7, no alarm.
    a = _series([0, 1, 1, 0, 0, 0, 0, 0, 0, 0], k=2.0)
    b = _series([0, 0, 0, 0, 0, 1, 1, 1, 0, 0], k=10.0)
    det_a = _rows([0.1, 0.2, 5.0, 0.3, 4.0, 0.4, 0.5, 0.6, 0.7, 0.8])
    det_b = _rows([0.1] * 6 + [2.0] + [0.1] * 3)
    per_seed, outbreaks = evaluate_scenario("x", [a, b], [0, 1], [det_a, det_b], DetectorConfig(), target_far=0.1)
    default = per_seed[per_seed["setting"] == "default"].set_index("seed")
    assert default.loc[0, ["pod", "far", "ppv", "median_delay"]].tolist() == [1.0, 1 / 8, 0.5, 1.0]
    assert default.loc[0, "f1"] == pytest.approx(2 / 3)
    assert default.loc[1, "pod"] == 0.0 and math.isnan(default.loc[1, "ppv"]) and default.loc[1, "f1"] == 0.0
    # matched FAR 10 % of the 15 pooled normal days -> 1 false alarm allowed -> threshold 0.8 (2nd largest normal)
    matched = per_seed[per_seed["setting"] == "matched_far"]
    assert (matched["threshold"] == 0.8).all()
    summary = summarise(per_seed, outbreaks).set_index("setting")
    assert summary.loc["default", ["pod", "far", "ppv", "f1", "median_delay"]].tolist() == pytest.approx(
        [0.5, 1 / 15, 0.5, 0.5, 1.0]
    )
    assert summary.loc["default", "pod_sd"] == pytest.approx(math.sqrt(0.5))  # per-seed POD 1 and 0
    assert summary.loc["matched_far", ["pod", "far", "ppv", "f1", "median_delay"]].tolist() == pytest.approx(
        [1.0, 1 / 15, 2 / 3, 0.8, 1.0]
    )
    found = outbreaks[outbreaks["setting"] == "default"]
    assert found[["seed", "k", "detected", "delay"]].values.tolist()[0] == [0, 2.0, True, 1.0]
    assert pod_by_size(outbreaks, "matched_far").loc[("x", "ears_c1")].tolist() == [1.0, 1.0]


def test_alarm_statistic_follows_the_counted_direction_and_the_guard() -> None:
    rows = pd.DataFrame(
        {"detector": "lstm_ewma", "score": [-3.0, 2.0, 4.0], "is_hotspot": False, "guard_blocked": [False, False, True]}
    )
    surge = DetectorConfig(direction="surge")
    np.testing.assert_array_equal(alarm_statistic(rows, surge), [-3.0, 2.0, np.nan])
    np.testing.assert_array_equal(alarm_statistic(rows, DetectorConfig(direction="drop")), [3.0, -2.0, np.nan])
    both = DetectorConfig()  # direction "both" is the default
    np.testing.assert_array_equal(alarm_statistic(rows, both), [3.0, 2.0, np.nan])
    # The old name still works.
    np.testing.assert_array_equal(alarm_statistic(rows, DetectorConfig(hotspot_direction="surge")), [-3.0, 2.0, np.nan])
    np.testing.assert_array_equal(alarm_statistic(rows.assign(detector="ears_c2"), both), [-3.0, 2.0, 4.0])
    assert f1_score(0.0, float("nan")) == 0.0 and math.isnan(f1_score(float("nan"), 0.5))


@pytest.mark.slow
def test_lstm_forecasts_are_the_pipelines_predictions() -> None:
    """Series 0 of a grouped call gets exactly the model and forecast the pipeline computes for it alone."""
    frames = [simulate_pair("medium", seed)[0] for seed in (3, 4)]
    config = PipelineConfig()
    grouped = lstm_forecasts(frames, config.train, series_ids=[lstm.series_id("CN"), 7])
    alone = frames[0].assign(region="CN").rename(columns={"actual": "confirmed", "driver": "asymptomatic"})
    scaled, scalers = scale_series(alone, config.series)
    predictions = fit_and_predict(scaled, scalers, config.train, config.series)
    pipeline = predictions.loc[predictions["role"] == "target", "predicted"].to_numpy()
    np.testing.assert_allclose(grouped[0], pipeline, rtol=1e-5, atol=1e-4)
    assert np.isnan(grouped[1][:2]).all() and np.isfinite(grouped[1][2:]).all()


@pytest.mark.slow
def test_tiny_backtest_with_the_real_lstm() -> None:
    config = PipelineConfig()
    real = real_series(config.series)
    result = run_backtest(
        ["low", REAL], [0, 1], config.train, detector_config(config.detect, 10.0), real, forecast=config.forecast
    )
    per_seed, outbreaks, summary = result.per_seed, result.outbreaks, result.summary
    assert list(summary.columns) == SUMMARY_COLUMNS and list(per_seed.columns) == PER_SEED_COLUMNS
    oracles = [f"{name}{side}" for side in ("", "_2s") for name in ORACLES]
    assert summary.groupby("scenario", sort=False).size().to_dict() == {
        "low": 2 * (len(DETECTOR_NAMES) + len(oracles)),
        REAL: 2 * len(DETECTOR_NAMES),
    }
    assert list(result.calibration.columns) == CALIBRATION_COLUMNS and len(result.calibration) == 4
    assert result.calibration["band"].between(0.8, 1.0).all()
    assert (result.timings["forecaster_s"] > 0).all()
    matched = summary[summary["setting"] == "matched_far"]
    assert (matched["far"] <= 0.01).all()
    assert (summary["n_outbreaks"] > 0).all() and summary["f1"].between(0, 1).all()
    assert set(outbreaks["k"]) <= {2.0, 3.0, 5.0, 10.0}


def test_event_scenarios_label_drops_and_driver_explained_events() -> None:
    for name in EVENT_SCENARIOS:
        frame, mask, ids, sign, explained = simulate_events(name, 3)
        assert np.array_equal(mask, ids > 0) and (frame["actual"] >= 0).all()
        assert set(np.unique(sign)) <= {-1, 0, 1} and np.array_equal(sign != 0, mask)
        assert not (mask & (explained > 0)).any()  # an explained event is never a hotspot
        assert len(frame.attrs["target_mean"]) == len(frame) == SCENARIOS["medium"].n_days
    seeds = range(10)
    drops = [simulate_events("drops", s)[3] for s in seeds]
    assert any((d < 0).any() for d in drops) and any((d > 0).any() for d in drops)
    assert all((simulate_events("drops", s)[4] == 0).all() for s in seeds)
    both = [simulate_events("both", s) for s in seeds]
    assert any((b[4] > 0).any() for b in both) and all((b[3] >= 0).all() for b in both)
    # The explained part is in the true mean: the target mean rises on explained days.
    frame, _, _, _, explained = next(b for b in both if (b[4] > 0).any())
    baseline = simulate_events("both", 0)[0].attrs["target_mean"]
    assert (np.asarray(frame.attrs["target_mean"])[explained > 0] > 0).all() and len(baseline) == len(frame)


def test_wrong_direction_alarms_and_explained_events_are_scored_apart() -> None:
    ids = np.array([0, 1, 1, 0, 2, 2, 0, 0, 0, 0])
    sign = np.array([0, 1, 1, 0, -1, -1, 0, 0, 0, 0])
    explained = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0])
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=10, freq="D"), "actual": 1.0})
    frame.attrs["outbreaks"] = [{"id": 1, "k": 2.0, "size": 5.0}, {"id": 2, "k": 3.0, "size": 5.0}]
    series = LabelledSeries(frame, ids > 0, ids, np.ones(10, dtype=bool), sign, explained)
    # Alarms: day 1 a surge (finds event 1), day 4 a surge on a drop event (dropped), day 7 on an explained
    # event (not a false alarm, counted as explained-flagged), day 9 a surge on a clean day (false alarm).
    scores = [0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 5.0]
    rows = pd.DataFrame({"detector": "lstm_ewma", "score": scores, "is_hotspot": np.array(scores) > 3,
                         "guard_blocked": False})  # fmt: skip
    per_seed, _ = evaluate_scenario("x", [series], [0], [rows], DetectorConfig(), target_far=0.5)
    row = per_seed[per_seed["setting"] == "default"].iloc[0]
    assert (row["n_detected"], row["n_outbreaks"], row["n_false_alarms"], row["n_normal_days"]) == (1, 2, 1, 4)
    assert (row["n_explained"], row["n_explained_flagged"]) == (1, 1)
    assert summarise(per_seed, _)["explained_flagged"].iloc[0] == 1.0


def test_accumulating_oracles_hand_made() -> None:
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=6, freq="D"), "actual": [100.0] * 6})
    frame.attrs["target_mean"] = np.full(6, 100.0)
    frame.attrs["target_dispersion"] = np.zeros(6)  # Poisson: z of a count at its mean is ~0
    series = LabelledSeries(frame, np.zeros(6, bool), np.zeros(6, int), np.ones(6, bool))
    rows = accumulating_oracle_rows(series, "medium", DetectorConfig())
    cusum = rows[rows["detector"] == "oracle_cusum"]["score"].to_numpy()
    np.testing.assert_allclose(cusum, 0.0, atol=1e-9)  # |z| < k = 0.5 every day: the CUSUM never leaves 0
    frame["actual"] = [100.0, 130.0, 130.0, 130.0, 100.0, 60.0]
    rows = all_oracle_rows(series, "medium", DetectorConfig())
    cusum = rows[rows["detector"] == "oracle_cusum"]["score"].to_numpy()
    assert cusum[1] > 2 and cusum[3] > cusum[2] > cusum[1] and cusum[3] > 4  # ~3 sd a day accumulates
    assert rows[rows["detector"] == "oracle_cusum"]["is_hotspot"].tolist()[1:4] == [False, True, True]
    two = rows[rows["detector"] == "oracle_2s"]
    assert two["direction"].tolist() == ["none", "surge", "surge", "surge", "none", "drop"]
    assert set(rows["detector"]) == {f"{n}{s}" for n in ORACLES for s in ("", "_2s")}
    stat = alarm_statistic(rows[rows["detector"] == "oracle_2s"], DetectorConfig(direction="surge"))
    assert stat[5] > 3  # the two-sided copy ranks the drop whatever the detectors' direction


def test_calibration_summary_of_a_true_distribution_is_nominal() -> None:
    rng = np.random.default_rng(5)
    mean = np.full(20_000, 40.0)
    y = rng.poisson(mean).astype("float64")
    dist = {"mean": mean, "phi": np.zeros_like(mean), "dof": np.full_like(mean, np.inf)}
    out = calibration_summary(y, dist, np.ones(y.shape, bool), np.random.default_rng(1))
    assert out["n_days"] == 20_000
    assert out["pit"] == pytest.approx(0.95, abs=0.006)  # randomised PIT: exactly nominal
    assert 0.95 <= out["band"] <= 0.97  # integer band: at least nominal
    hist = np.array([out[f"pit_{i}"] for i in range(10)])
    np.testing.assert_allclose(hist, 0.1, atol=0.01)
    wide = calibration_summary(y, dist | {"mean": mean * 1.3}, np.ones(y.shape, bool), np.random.default_rng(1))
    assert wide["pit"] < 0.8  # a biased forecast is seen


def test_with_oracle_best_takes_the_best_oracle_per_scenario() -> None:
    summary = pd.DataFrame(
        {"scenario": ["a", "a", "a", "a", "b", "b", "b", "b"], "setting": "matched_far",
         "detector": ["oracle", "oracle_cusum", "oracle_2s", "x"] * 2, "f1": [0.5, 0.7, 0.4, 0.3, 0.9, 0.6, 0.8, 0.2]}
    )  # fmt: skip
    table = with_oracle_best(f1_pivot(summary, "matched_far"))
    assert table.loc["oracle_best"].tolist() == [0.7, 0.9] and table.loc["oracle_best_2s"].tolist() == [0.4, 0.8]
