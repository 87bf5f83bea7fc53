"""Detectors: exact hand-computed cases, calibration coverage, guard, spikes, explanation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.config import DETECTOR_NAMES, DetectConfig, PipelineConfig
from tasks.detectors.ewma import ewma_statistic, past_autocorrelation
from tasks.detectors.registry import NAMES, REGISTRY
from tasks.detectors.run import detect, run_detectors
from tasks.detectors.schema import OUTPUT_COLUMNS, DetectorConfig, detector_config
from tasks.report.explain import explain


def make_frame(actual: list[float] | np.ndarray, driver: list[float] | np.ndarray | None = None) -> pd.DataFrame:
    actual = np.asarray(actual, dtype="float64")
    driver = np.full(actual.size, np.nan) if driver is None else np.asarray(driver, dtype="float64")
    return pd.DataFrame(
        {"date": pd.date_range("2022-01-03", periods=actual.size, freq="D"), "actual": actual, "driver": driver}
    )


def nb_series(mean: np.ndarray, phi: float, seed: int) -> np.ndarray:
    """NB2 counts (Var = m + phi m^2) through the gamma-Poisson mixture."""
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.gamma(1.0 / phi, mean * phi)).astype("float64")


# ---------------------------------------------------------------------------------------------
# EARS on a 12-day series, expected values from hand arithmetic.
#
# Days 0-9 repeat the weekly pattern 2,4,2,4,2,4,3, so every 7-day window inside them holds the
# values {2,2,2,3,4,4,4}: mean 21/7 = 3, squared deviations 1+1+1+0+1+1+1 = 6, sd = sqrt(6/6) = 1.
# Day 10 jumps to 9 and day 11 is 6.
EARS_SERIES = [2, 4, 2, 4, 2, 4, 3, 2, 4, 2, 9, 6]


def ears_rows(name: str) -> pd.DataFrame:
    return detect(name, make_frame(EARS_SERIES), None, DetectorConfig())


def test_ears_c1_hand_computed() -> None:
    out = ears_rows("ears_c1")
    assert out["score"].iloc[:7].isna().all()  # days 0-6 have no full 7-day baseline
    assert out["note"].iloc[0] == "fewer than 7 earlier days for the 7-day baseline"
    # days 7-10: baseline mean 3, sd 1 -> C1 = actual - 3
    np.testing.assert_allclose(out["score"].iloc[7:11], [2 - 3, 4 - 3, 2 - 3, 9 - 3])
    np.testing.assert_allclose(out["expected"].iloc[7:11], 3.0)
    np.testing.assert_allclose(out["upper"].iloc[10], 3 + 3 * 1)
    # day 11: baseline days 4-10 = 2,4,3,2,4,2,9 -> sum 26, sum of squares 134,
    # mean 26/7, variance (134 - 26^2/7) / 6, C1 = (6 - 26/7) / sqrt(that)
    mean11 = 26 / 7
    sd11 = math.sqrt((134 - 26**2 / 7) / 6)
    assert out["expected"].iloc[11] == pytest.approx(mean11)
    assert out["score"].iloc[11] == pytest.approx((6 - mean11) / sd11)  # 0.9152
    assert out["is_hotspot"].tolist() == [False] * 10 + [True, False]
    assert out.loc[10, "severity"] == "alarm" and out.loc[10, "direction"] == "surge"
    assert out["lower"].isna().all()  # one-sided


def test_ears_c2_hand_computed_and_boundary() -> None:
    out = ears_rows("ears_c2")
    assert out["score"].iloc[:9].isna().all()  # 7-day baseline + 2-day guard band
    # day 9: baseline days 0-6, day 10: days 1-7, day 11: days 2-8; each mean 3, sd 1
    np.testing.assert_allclose(out["score"].iloc[9:], [2 - 3, 9 - 3, 6 - 3])
    # day 11: C2 = 3 exactly, not above the threshold 3 -> no alarm (C1 had the spike in its baseline)
    assert out["is_hotspot"].tolist() == [False] * 10 + [True, False]


def test_ears_c3_hand_computed() -> None:
    out = ears_rows("ears_c3")
    # C2 exists from day 9, so C3 (today and the 2 previous C2 values) only on day 11:
    # max(0, -1 - 1) + max(0, 6 - 1) + max(0, 3 - 1) = 0 + 5 + 2 = 7 > 2
    assert out["score"].iloc[:11].isna().all()
    assert out["score"].iloc[11] == pytest.approx(7.0)
    assert bool(out["is_hotspot"].iloc[11])
    # the two previous days alone give 5 > 2, so there is no count bound for day 11
    assert np.isnan(out["upper"].iloc[11])
    assert "two previous days" in out["note"].iloc[11]


def test_ears_min_sigma_and_gap() -> None:
    # after 7 zero days sd = 0; the 1-case floor gives C1 = actual / 1: 3 is not > 3, 4 is
    out3 = detect("ears_c1", make_frame([0] * 7 + [3]), None, DetectorConfig())
    out4 = detect("ears_c1", make_frame([0] * 7 + [4]), None, DetectorConfig())
    assert out3["score"].iloc[7] == 3.0 and not out3["is_hotspot"].iloc[7]
    assert out4["score"].iloc[7] == 4.0 and out4["is_hotspot"].iloc[7]
    gap = detect("ears_c1", make_frame([1, 2, np.nan, 2, 1, 2, 1, 50]), None, DetectorConfig())
    assert np.isnan(gap["score"].iloc[7]) and not gap["is_hotspot"].iloc[7]
    assert gap["note"].iloc[7] == "baseline has 1 missing day(s)"


# ---------------------------------------------------------------------------------------------
# the reference rule


def test_seed_rule_exact() -> None:
    frame = make_frame([0, 1, 100, 100, 100, 100])
    predicted = np.array([5.0, -1.0, 110.0, 90.0, 89.0, 112.0])
    out = detect("seed", frame, predicted, DetectorConfig())
    # actual 0 -> undefined, NaN (not inf), not a hotspot, with a note
    assert np.isnan(out["score"].iloc[0]) and not out["is_hotspot"].iloc[0]
    assert "undefined" in out["note"].iloc[0]
    # |1 - (-1)| / 1 x 100 = 200 %
    assert out["score"].iloc[1] == pytest.approx(200.0)
    assert out["is_hotspot"].iloc[1] and out["direction"].iloc[1] == "surge"
    # exactly 10 % either way is not a hotspot; 11 % and 12 % are
    assert out["score"].iloc[2] == 10.0 and out["score"].iloc[3] == 10.0
    assert out["is_hotspot"].tolist() == [False, True, False, False, True, True]
    assert out["direction"].tolist() == ["none", "surge", "none", "none", "surge", "drop"]


# ---------------------------------------------------------------------------------------------
# calibrated detectors


def test_calibrated_interval_coverage_on_nb_data() -> None:
    days = 1500
    mean = 60.0 * (1.0 + 0.5 * np.sin(np.arange(days) / 15.0))
    actual = nb_series(mean, 0.05, seed=3)
    frame = make_frame(actual)
    # two-sided: lower/upper = central 95 % interval; each side one-sided at 5 %: central 90 %
    for sides, low, high in (("two-sided", 0.93, 0.97), ("each", 0.88, 0.92)):
        config = DetectorConfig(hotspot_level="warning", sides=sides)
        out = detect("lstm_calibrated", frame, mean, config)
        scored = out["score"].notna()
        assert scored.sum() > 1450
        covered = (out["actual"] >= out["lower"]) & (out["actual"] <= out["upper"])
        coverage = covered[scored].mean()
        assert low <= coverage <= high, (sides, coverage)
    alarm_rate = (out.loc[scored, "p_value"] < 0.01).mean()  # one-sided 1 % on each side
    assert alarm_rate < 0.025, alarm_rate


def test_small_count_guard_blocks_one_or_two_cases() -> None:
    # A forecast of ~0.05 cases: without any floor or guard, 2 cases would be a p ~ 0.001 alarm.
    actual = np.array([0.0] * 30 + [2.0])
    forecast = np.full(31, 0.05)
    loose = DetectorConfig(mu_floor=0.01, guard_min_cases=0, guard_min_excess=0)
    free = detect("lstm_calibrated", make_frame(actual), forecast, loose)
    assert free["severity"].iloc[-1] == "alarm" and free["is_hotspot"].iloc[-1]
    guarded = detect("lstm_calibrated", make_frame(actual), forecast, DetectorConfig(mu_floor=0.01))
    last = guarded.iloc[-1]
    assert not last["is_hotspot"] and last["severity"] == "none" and last["guard_blocked"]
    assert "small-count guard" in last["note"]
    assert last["p_value"] < 0.01  # the statistic is still reported
    # one case too
    actual[-1] = 1.0
    assert not detect("lstm_calibrated", make_frame(actual), forecast, DetectorConfig(mu_floor=0.01))[
        "is_hotspot"
    ].iloc[-1]


def test_spike_found_and_clean_series_quiet() -> None:
    days = 150
    mean = 200.0 * (1.0 + 0.3 * np.sin(np.arange(days) / 10.0))
    clean = nb_series(mean, 0.02, seed=11)
    config = DetectorConfig()
    # Clean series: the 99 % two-sided test should flag about 1 % of scored days; bound: at most 3 %.
    for out in (
        detect("lstm_calibrated", make_frame(clean), mean, config),
        detect("naive_calibrated", make_frame(clean), None, config),
    ):
        scored = out["score"].notna()
        assert out.loc[scored, "is_hotspot"].mean() <= 0.03, out["detector"].iloc[0]
    spiked = clean.copy()
    sd = math.sqrt(mean[120] + 0.02 * mean[120] ** 2)
    spiked[120] += round(6 * sd)
    for out in (
        detect("lstm_calibrated", make_frame(spiked), mean, config),
        detect("naive_calibrated", make_frame(spiked), None, config),
    ):
        row = out.iloc[120]
        assert row["is_hotspot"] and row["direction"] == "surge" and row["severity"] == "alarm", out["detector"].iloc[0]
        assert row["actual"] > row["upper"]


def test_negative_forecast_is_clipped_and_noted() -> None:
    actual = np.array([3.0, 2.0, 4.0, 3.0, 2.0, 3.0, 4.0, 3.0, 2.0, 3.0])
    forecast = np.array([3.0, 2.0, 3.0, 3.0, 3.0, 2.0, 3.0, 3.0, 3.0, -2.0])
    out = detect("lstm_calibrated", make_frame(actual), forecast, DetectorConfig())
    assert "clipped to 0" in out["note"].iloc[-1]
    assert out["expected"].iloc[-1] >= DetectorConfig().mu_floor


def test_unscorable_days_have_notes_and_no_alert() -> None:
    actual = np.r_[np.full(20, 50.0), np.nan, np.full(5, 50.0)]
    out = detect("naive_calibrated", make_frame(actual), None, DetectorConfig())
    unscored = out[out["score"].isna()]
    assert (~unscored["is_hotspot"]).all() and (unscored["severity"] == "none").all()
    assert (unscored["note"] != "").all()
    assert out["note"].iloc[3] == "fewer than 7 earlier days for the 7-day mean forecast"
    assert out["note"].iloc[20].startswith("no observed count") or "missing" in out["note"].iloc[20]
    assert "missing day" in out["note"].iloc[22]


def test_run_detectors_long_format_and_errors() -> None:
    frame = make_frame(np.arange(40, dtype=float) + 10)
    forecast = frame["actual"].to_numpy() + 1
    ensemble = (forecast, np.ones(40))
    out = run_detectors(frame, list(NAMES), forecast, DetectorConfig(), ensemble=ensemble)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert len(out) == 40 * len(NAMES)
    assert out.groupby("detector").size().eq(40).all()
    assert out["is_hotspot"].dtype == bool
    with pytest.raises(ValueError, match="unknown detector"):
        run_detectors(frame, ["nope"], forecast, DetectorConfig())
    with pytest.raises(ValueError, match="needs a forecast"):
        run_detectors(frame, ["seed"], None, DetectorConfig())
    with pytest.raises(ValueError, match="needs the forecaster's ensemble forecast"):
        run_detectors(frame, ["forecast_ewma"], forecast, DetectorConfig())
    with pytest.raises(ValueError, match="consecutive days"):
        run_detectors(frame.drop(index=5), ["ears_c1"], None, DetectorConfig())
    with pytest.raises(ValueError, match="alpha_alarm"):
        DetectorConfig(alpha_alarm=0.1, alpha_warning=0.05)


def test_explain_driver_also_rising_and_target_alone() -> None:
    actual = [100.0] * 20 + [100.0, 130.0, 170.0, 400.0]
    rising = [300.0] * 20 + [300.0, 400.0, 500.0, 700.0]
    flat = [300.0] * 20 + [300.0, np.nan, 305.0, 298.0]
    for driver, label in ((rising, "driver also rising"), (flat, "target moved alone")):
        frame = make_frame(actual, driver)
        rows = run_detectors(frame, ["ears_c1", "naive_calibrated"], None, DetectorConfig())
        info = explain(rows, frame, frame["date"].iloc[-1])
        assert info["driver_behaviour"] == label
        assert info["actual"] == 400.0
        assert "ears_c1" in info["agreeing"]
        assert info["target_change"]["change"] == 300.0
        assert info["text"].startswith(f"On {frame['date'].iloc[-1].date()} there were 400 cases")
    # the missing driver day is named, not filled in
    assert info["driver_change"]["missing_dates"] == [frame["date"].iloc[21].date().isoformat()]
    assert "not filled in" in info["text"]


def test_older_calibration_pairs_let_the_first_days_be_scored() -> None:
    mean = np.full(40, 80.0)
    actual = nb_series(mean, 0.03, seed=21)
    frame = make_frame(actual[30:])
    alone = detect("lstm_calibrated", frame, mean[30:], DetectorConfig())
    assert alone["score"].iloc[:7].isna().all()  # fewer than 7 past residuals
    assert alone["note"].iloc[0].startswith("only 0 past residual(s)")
    primed = run_detectors(
        frame, ["lstm_calibrated"], mean[30:], DetectorConfig(), calibration=(actual[:30], mean[:30])
    )
    assert primed["score"].notna().all()
    with pytest.raises(ValueError, match="same length"):
        run_detectors(frame, ["lstm_calibrated"], mean[30:], DetectorConfig(), calibration=(actual[:30], mean[:29]))


# ---------------------------------------------------------------------------------------------
# configuration and the EWMA detectors


def test_registry_config_and_study_threshold() -> None:
    assert NAMES == DETECTOR_NAMES == tuple(spec.name for spec in REGISTRY)
    assert PipelineConfig().detect.decider in NAMES
    pipeline = PipelineConfig()
    config = detector_config(pipeline.detect, 25.0)
    assert config.seed_threshold_pct == 25.0 and config.decider == pipeline.detect.decider
    assert isinstance(config, DetectConfig)
    with pytest.raises(ValueError, match="alpha_alarm"):
        DetectConfig(alpha_alarm=0.1, alpha_warning=0.05)


def test_ewma_statistic_hand_computed() -> None:
    # lambda 0.5: Var(E_n) = 0.5 / 1.5 x (1 - 0.25^n): n = 1 -> 0.25, n = 2 -> 0.3125
    out = ewma_statistic(np.array([1.0, 2.0, np.nan, 3.0]), 0.5)
    # day 0: E = 0.5, sd 0.5 -> 1; day 1: E = 0.5 x 2 + 0.5 x 0.5 = 1.25, sd sqrt(0.3125)
    # day 2: unscored -> restart; day 3: E = 1.5, sd 0.5 -> 3
    np.testing.assert_allclose(out["stat"], [1.0, 1.25 / math.sqrt(0.3125), np.nan, 3.0])
    np.testing.assert_allclose(out["carry"], [0.0, 0.25, np.nan, 0.0])
    assert out["n"].tolist() == [1, 2, 0, 1]
    # AR(1) rho 0.5 multiplies the variance by (1 + 0.25) / (1 - 0.25) = 5/3
    rho = ewma_statistic(np.array([1.0, 2.0]), 0.5, np.array([0.0, 0.5]))
    assert rho["stat"][1] == pytest.approx(1.25 / math.sqrt(0.3125 * 5 / 3))


def test_past_autocorrelation_hand_computed() -> None:
    # day 3 sees pairs (z0, z1) and (z1, z2): cross 2 + 2 = 4, half-sums of squares 2.5 + 2.5 = 5 -> 0.8
    rho = past_autocorrelation(np.array([1.0, 2.0, 1.0, 2.0]), window=28, min_pairs=2, clip_z=2.58)
    assert rho[3] == pytest.approx(0.8)
    assert rho[:3].tolist() == [0.0, 0.0, 0.0]  # fewer than 2 past pairs
    alternating = past_autocorrelation(np.array([1.0, -1.0] * 10), window=28, min_pairs=2, clip_z=2.58)
    assert (alternating == 0).all()  # negative autocorrelation is not used (conservative)


def _three_day_outbreak() -> tuple[pd.DataFrame, np.ndarray]:
    """A forecast of 100 that is right up to +-5 cases, then three days of 122 (about 2 Poisson sd each)."""
    n = 60
    forecast = np.full(n, 100.0)
    actual = forecast + np.where(np.arange(n) % 2, 5.0, -5.0)
    actual[50:53] = 122.0
    return make_frame(actual), forecast


def test_ewma_finds_a_multi_day_outbreak_the_single_day_test_only_warns_about() -> None:
    frame, forecast = _three_day_outbreak()
    surge = DetectorConfig(direction="surge")  # one-sided tests: the levels below are the one-sided ones
    single = detect("lstm_calibrated", frame, forecast, surge)
    assert single["severity"].iloc[50:53].tolist() == ["warning"] * 3
    assert not single["is_hotspot"].any()
    ewma = detect("lstm_ewma", frame, forecast, surge)
    assert ewma["is_hotspot"].tolist() == [False] * 51 + [True, True] + [False] * 7
    assert ewma["severity"].iloc[50] == "warning" and ewma["direction"].iloc[51] == "surge"
    # the band is conditional on the previous days: after day 50 a smaller count already crosses it
    assert ewma["upper"].iloc[51] < ewma["upper"].iloc[50]
    assert (ewma["actual"] > ewma["upper"]).iloc[51:53].all()
    assert (ewma["actual"] <= ewma["upper"]).iloc[7:50].all()  # unscored (no upper) before day 7
    assert ewma["expected"].equals(single["expected"])  # same calibrated expectation


def test_drops_are_hotspots_by_default_and_only_reported_with_direction_surge() -> None:
    frame, forecast = _three_day_outbreak()
    frame.loc[50:52, "actual"] = 70.0  # a three-day drop instead
    both = detect("lstm_calibrated", frame, forecast, DetectorConfig())  # direction "both", two-sided
    assert both["is_hotspot"].iloc[50:53].all() and (both["direction"].iloc[50:53] == "drop").all()
    out = detect("lstm_calibrated", frame, forecast, DetectorConfig(direction="surge"))
    assert (out["severity"].iloc[50:53] == "alarm").all() and (out["direction"].iloc[50:53] == "drop").all()
    assert not out["is_hotspot"].any()
    assert "a drop: reported, not counted as a hotspot (direction = surge)" in out["note"].iloc[50]
    # The earlier name of the setting still works.
    old = detect("lstm_calibrated", frame, forecast, DetectorConfig(hotspot_direction="surge"))
    assert not old["is_hotspot"].any()
    # Two-sided at alpha / 2 per side: a drop's p-value is twice its one-sided tail.
    np.testing.assert_allclose(both["p_value"].iloc[50:53], np.minimum(1, 2 * out["p_value"].iloc[50:53]))


def test_ewma_false_alarm_rate_on_clean_series() -> None:
    days = 1500
    mean = 80.0 * (1.0 + 0.5 * np.sin(np.arange(days) / 12.0))
    out = detect("lstm_ewma", make_frame(nb_series(mean, 0.05, seed=8)), mean, DetectorConfig())
    scored = out["score"].notna()
    rate = out.loc[scored, "is_hotspot"].mean()
    assert rate <= 0.015, rate  # nominal 1 % (surges, one-sided)


@pytest.mark.parametrize("days", [1, 2])
def test_every_detector_scores_a_series_of_one_or_two_days(days: int) -> None:
    """A region that has just started reporting: nothing to alarm on, a note per day, and no crash."""
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2022-01-01", periods=days, freq="D", unit="us"),
            "actual": [5.0] * days,
            "driver": [1.0] * days,
        }
    )
    nan = np.full(days, np.nan)
    out = run_detectors(frame, list(DETECTOR_NAMES), nan, detector_config(DetectConfig(), 10.0), ensemble=(nan, nan))
    assert len(out) == days * len(DETECTOR_NAMES)
    assert not out["is_hotspot"].any()
    assert (out.loc[out["detector"] == "ears_c3", "note"].str.startswith("fewer than")).all()
