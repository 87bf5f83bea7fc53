"""The Farrington flexible port (tasks/detectors/farrington*.py): R golden values (no R needed), unit and
behaviour tests.

The golden values and the exact R calls that produced them: tests/data/farrington/ (make_golden.R).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tasks.detectors import farrington as F
from tasks.detectors import farrington_fit as FF

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "farrington" / "golden.json"
RTOL = 1e-6  # relative tolerance against R
ATOL = 1e-12  # absolute tolerance, only matters for values within ~1e-6 of zero


def _load() -> list[dict[str, Any]]:
    return json.loads(GOLDEN.read_text())["cases"]


CASES = _load()


def _arr(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _settings(case: dict[str, Any]) -> F.FarringtonSettings:
    c = case["control"]
    return F.FarringtonSettings(
        b=c["b"],
        w=c["w"],
        reweight=c["reweight"],
        weights_threshold=c["weightsThreshold"],
        alpha=c["alpha"],
        trend=c["trend"],
        p_threshold_trend=c["pThresholdTrend"],
        limit54=tuple(c["limit54"]),
        pow_trans=c["powertrans"],
        no_periods=c["noPeriods"],
        past_weeks_not_included=c["pastWeeksNotIncluded"],
        threshold_method=c["thresholdMethod"],
        freq=case["freq"],
    )


def _run(case: dict[str, Any]) -> F.FarringtonResult:
    rng = case["range"] if isinstance(case["range"], list) else [case["range"]]
    return F.farrington_flexible(
        _arr(case["observed"]), _settings(case), dates=case["dates"], eval_index=np.asarray(rng, dtype=np.int64) - 1
    )


def _close(mine: np.ndarray, ref: np.ndarray) -> tuple[bool, float]:
    """Same NaN pattern and |mine - ref| <= RTOL |ref| + ATOL; also returns the max relative difference."""
    # jsonlite writes R's NA and Inf alike as null, so compare "not finite".
    same_nan = np.array_equal(~np.isfinite(mine), ~np.isfinite(ref))
    both = np.isfinite(mine) & np.isfinite(ref)
    ok = same_nan and bool(np.all(np.abs(mine[both] - ref[both]) <= RTOL * np.abs(ref[both]) + ATOL))
    rel = np.abs(mine[both] - ref[both]) / np.maximum(np.abs(ref[both]), 1e-300)
    return ok, float(rel.max()) if rel.size else 0.0


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_r(case: dict[str, Any]) -> None:
    res = _run(case)
    r = case["result"]
    r_alarm = r["alarm"]
    # Points where R stopped with an error (recorded one call per point): the
    # port must decline them with a reason.
    r_error = np.array(r.get("r_error", [False] * len(r_alarm)), dtype=bool)
    assert all(res.reason[r_error] != None) and not res.alarm[r_error].any()  # noqa: E711
    # R gave NA without an error: no model could be fitted (no convergence).
    # The port gives a reason and NaNs; R leaves its expected at the matrix's
    # initial 0 there (see REPORT.md).
    unscored = np.array([a is None for a in r_alarm]) & ~r_error
    assert all(res.reason[unscored] != None)  # noqa: E711
    assert np.all(np.isnan(res.upper[unscored])) and np.all(np.isnan(res.expected[unscored]))
    assert np.all(_arr(r["expected"])[unscored] == 0)
    assert all(res.reason[~unscored & ~r_error] == None)  # noqa: E711
    unscored |= r_error
    assert np.array_equal(res.alarm, np.array([bool(a) for a in r_alarm]))

    fields = {
        "upperbound": res.upper,
        "expected": res.expected,
        "score": res.score,
        "pvalue": res.p_value,
        "phi": res.phi,
        "trendVector": res.trend_coef,
        "mu0Vector": res.mu0,
    }
    for key, mine in fields.items():
        ref = _arr(r[key])
        if key == "expected":
            ref[unscored] = np.nan
        ok, rel = _close(mine, ref)
        assert ok, f"{key}: max relative difference {rel:.3g}"
    kept = np.array([t == 1 for t in r["trend"]])
    assert np.array_equal(res.trend_kept, kept)


def test_golden_covers_the_required_cases() -> None:
    names = {c["name"] for c in CASES}
    assert {
        "newport_original",
        "newport_improved_nbPlugin",
        "newport_improved_muan",
        "sim_low_original",
        "sim_high_trend_original_default_range",
        "daily_original_b3",
        "newport_na_improved_nbPlugin",
        "daily_zero_noconvergence",
    } <= names
    low = next(c for c in CASES if c["name"] == "sim_low_original")
    assert np.nanmean(_arr(low["observed"])) < 1
    high = next(c for c in CASES if c["name"] == "sim_high_trend_improved_nbPlugin")
    assert np.nanmin(_arr(high["observed"])[-104:]) > 100


# ---------------------------------------------------------------------------------
# Unit tests of the helpers, with values worked out by hand (and checked once in R)
# ---------------------------------------------------------------------------------


def test_window_layout_small() -> None:
    # freq 10, b = 2, w = 1, three levels, last 2 periods excluded.  R's blocks()
    # gives, relative to k: -21..-19 -> 3, -18..-15 -> 1, -14..-12 -> 2,
    # -11..-9 -> 3, -8..-5 -> 1, -4..-2 -> 2, -1..0 -> 3 (the current window).
    s = F.FarringtonSettings(b=2, w=1, no_periods=3, freq=10, past_weeks_not_included=2)
    rel, level = F.window_layout((-10, -20), s)
    assert rel.tolist() == list(range(-21, -2))
    assert level.tolist() == [3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1, 2, 2]


def test_window_layout_original_is_windows_only() -> None:
    s = F.FarringtonSettings.original(b=2, freq=52)
    rel, level = F.window_layout((-52, -104), s)
    assert rel.tolist() == [-107, -106, -105, -104, -103, -102, -101, -55, -54, -53, -52, -51, -50, -49]
    assert set(level.tolist()) == {1}


def test_seasonal_levels_for_ten_periods() -> None:
    # Weekly, w = 3: each 52-week gap minus the 7-week window leaves 45 weeks,
    # split into 9 blocks of 5; the windows are level 10.
    s = F.FarringtonSettings.improved(b=2, freq=52)
    rel, level = F.window_layout((-52, -104), s)
    lv = dict(zip(rel.tolist(), level.tolist(), strict=True))
    assert [lv[r] for r in range(-107, -100)] == [10] * 7
    for block in range(1, 10):
        first = -100 + 5 * (block - 1)
        assert [lv[r] for r in range(first, first + 5)] == [block] * 5
    assert [lv[r] for r in range(-55, -48)] == [10] * 7
    assert [lv[r] for r in range(-48, -27 + 1)] == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5 + [5] * 2
    assert rel.max() == -27  # the 26 most recent weeks and the current one are left out
    assert rel.size == 107 - 27 + 1


def test_too_many_periods_refused() -> None:
    s = F.FarringtonSettings(b=1, w=3, no_periods=10, freq=12)
    with pytest.raises(ValueError):
        F.window_layout((-12,), s)


def test_reference_points_weekly_dates_and_index() -> None:
    # Values from R's algo.farrington.referencetimepoints: 0, 364, 728, 1092, 1463, 1827 days back.
    dates = np.arange(np.datetime64("2010-12-27"), np.datetime64("2016-01-05"), np.timedelta64(7, "D"))
    k = int(np.nonzero(dates == np.datetime64("2016-01-04"))[0][0])
    refs, ok = F.reference_points(np.array([k]), F.FarringtonSettings(b=5), dates.size, dates)
    assert ok[0]
    days_back = (dates[k] - dates[refs[0]]).astype(int).tolist()
    assert days_back == [364, 728, 1092, 1463, 1827]
    refs_i, ok_i = F.reference_points(np.array([300, 100]), F.FarringtonSettings(b=5), 400)
    assert refs_i[0].tolist() == [248, 196, 144, 92, 40] and ok_i.tolist() == [True, False]


def test_reference_points_daily_leap_day() -> None:
    dates = np.arange(np.datetime64("2012-01-01"), np.datetime64("2017-01-01"))
    k = int(np.nonzero(dates == np.datetime64("2016-02-29"))[0][0])
    refs, ok = F.reference_points(np.array([k]), F.FarringtonSettings(b=3, freq=365), dates.size, dates)
    assert ok[0]
    assert [str(d) for d in dates[refs[0]]] == ["2015-03-01", "2014-03-01", "2013-03-01"]


def test_anscombe_residuals_hand_values() -> None:
    y = np.array([4.0, 0.0, 8.0])
    mu = np.array([1.0, 4.0, 8.0])
    hat = np.array([0.0, 0.5, 0.2])
    phi = np.array([1.0, 2.0, 3.0])
    got = FF.anscombe_residuals(y, mu, hat, phi)
    assert got[0] == pytest.approx(1.5 * (4 ** (2 / 3) - 1), rel=1e-14)
    assert got[1] == pytest.approx(-3.0, rel=1e-14)  # 1.5 * (0 - 2) / sqrt(2 * 0.5)
    assert got[2] == pytest.approx(0.0, abs=1e-14)  # y == mu


def test_outlier_weights_hand_values() -> None:
    s = np.array([0.5, 3.0, -4.0, 2.0])
    w = FF.outlier_weights(s, 2.58)
    # Only 3.0 exceeds the threshold (negative residuals are never down-weighted):
    # raw (1, 1/9, 1, 1), rescaled by 4 / (28/9) = 9/7.
    assert w.tolist() == pytest.approx([9 / 7, 1 / 7, 9 / 7, 9 / 7], rel=1e-14)
    w2 = FF.outlier_weights(np.array([0.5, 3.0, 9.0]), 2.58, np.array([True, True, False]))
    assert w2.tolist() == pytest.approx([2 / (1 + 1 / 9), (1 / 9) * 2 / (1 + 1 / 9), 0.0], rel=1e-14)


def test_intercept_only_fit_is_the_mean() -> None:
    # No trend, no reweighting, windows only: the quasi-Poisson MLE is the mean
    # of the reference values.
    rng = np.random.default_rng(1)
    y = rng.poisson(7.0, size=6 * 52).astype(float)
    s = F.FarringtonSettings.original(trend=False, reweight=False, b=5)
    k = y.size - 1
    res = F.farrington_flexible(y, s, eval_index=np.array([k]))
    rel, _ = F.window_layout(tuple(-52 * j for j in range(1, 6)), s)
    assert res.expected_model[0] == pytest.approx(y[k + rel].mean(), rel=1e-9)
    assert res.n_reference[0] == 35


# ---------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------


def _weekly_dates(n: int) -> np.ndarray:
    return np.datetime64("2015-01-05") + 7 * np.arange(n).astype("timedelta64[D]")


@pytest.mark.parametrize(
    ("settings", "max_rate"),
    [
        # The original method is known to exceed its nominal level (Noufaily et al.
        # 2013); R gives 7.1 % on the same kind of data (12 series x 104 weeks).
        (F.FarringtonSettings.original(), 0.10),
        (F.FarringtonSettings.improved(b=4), 0.05),
        (F.FarringtonSettings.improved(b=4, threshold_method="muan"), 0.05),
    ],
    ids=["original", "nbPlugin", "muan"],
)
def test_clean_poisson_alarm_rate(settings: F.FarringtonSettings, max_rate: float) -> None:
    rng = np.random.default_rng(2024)
    n, t = 40, 8 * 52
    counts = rng.poisson(12.0, size=(n, t)).astype(float)
    res = F.farrington_flexible_many(counts, settings, dates=_weekly_dates(t), eval_index=np.arange(t - 104, t))
    assert np.all(res.reason == None)  # noqa: E711
    rate = res.alarm.mean()
    assert 0.0 < rate <= max_rate  # alpha = 0.05, one-sided


def test_spike_alarms_and_guard_blocks_small_counts() -> None:
    rng = np.random.default_rng(7)
    t = 6 * 52
    y = rng.poisson(8.0, size=t).astype(float)
    y[-1] = 60.0
    res = F.farrington_flexible(
        y, F.FarringtonSettings.improved(b=4), dates=_weekly_dates(t), eval_index=np.array([t - 2, t - 1])
    )
    assert res.alarm.tolist() == [False, True]
    assert res.score[1] > 1 and res.upper[1] < 60 and res.p_value[1] < 1e-6

    # Rare counts: 3 cases this week exceed the threshold, but fewer than 5 cases
    # in the last 4 weeks, so limit54 suppresses the alarm and blanks the bound.
    y = np.zeros(t)
    y[rng.choice(t - 10, size=12, replace=False)] = 1.0
    y[-1] = 3.0
    res = F.farrington_flexible(
        y, F.FarringtonSettings.original(), dates=_weekly_dates(t), eval_index=np.array([t - 1])
    )
    assert not res.enough_cases[0] and not res.alarm[0]
    assert np.isnan(res.upper[0]) and np.isnan(res.expected[0])
    assert res.upper_model[0] < 3.0 and res.score[0] > 1  # it would alarm without the guard
    no_guard = F.farrington_flexible(
        y, F.FarringtonSettings.original(limit54=(0, 4)), dates=_weekly_dates(t), eval_index=np.array([t - 1])
    )
    assert no_guard.alarm[0]


def test_not_enough_history_and_missing_current_value() -> None:
    y = np.full(300, 5.0)
    y[-1] = np.nan
    res = F.farrington_flexible(y, F.FarringtonSettings.original(), eval_index=np.array([100, 290, 299]))
    assert res.reason[0].startswith("not enough history") and not res.alarm[0]
    assert res.reason[1] is None and res.reason[2] is None
    assert np.isnan(res.upper[2]) and not res.alarm[2] and np.isfinite(res.upper_model[2])


def test_many_equals_single() -> None:
    rng = np.random.default_rng(3)
    t = 6 * 52
    counts = rng.negative_binomial(5, 5 / (5 + 20.0), size=(3, t)).astype(float)
    counts[1, 50:60] = np.nan
    s = F.FarringtonSettings.improved(b=4, threshold_method="muan")
    idx = np.arange(t - 60, t)
    many = F.farrington_flexible_many(counts, s, dates=_weekly_dates(t), eval_index=idx)
    for i in range(3):
        one = F.farrington_flexible(counts[i], s, dates=_weekly_dates(t), eval_index=idx)
        np.testing.assert_array_equal(one.alarm, many.alarm[i])
        np.testing.assert_allclose(one.upper, many.upper[i], rtol=1e-12)
        np.testing.assert_allclose(one.expected_model, many.expected_model[i], rtol=1e-12)


def test_textbook_mode_changes_standard_errors_only() -> None:
    case = next(c for c in CASES if c["name"] == "newport_original")
    y, s = _arr(case["observed"]), _settings(case)
    idx = np.asarray(case["range"]) - 1
    a = F.farrington_flexible(y, s, dates=case["dates"], eval_index=idx)
    b = F.farrington_flexible(
        y, F.FarringtonSettings(**{**s.__dict__, "r_quirks": False}), dates=case["dates"], eval_index=idx
    )
    # Without the trend the quirks cannot change which model is fitted: the
    # estimates and phi agree and only the standard error (so the bound) moves.
    same = ~a.trend_kept & ~b.trend_kept
    np.testing.assert_allclose(a.phi[same], b.phi[same], rtol=1e-12)
    np.testing.assert_allclose(a.expected_model[same], b.expected_model[same], rtol=1e-12)
    assert not np.allclose(a.upper_model[same], b.upper_model[same])


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        F.farrington_flexible(np.array([1.0, -1.0] * 200))
    with pytest.raises(ValueError):
        F.FarringtonSettings(threshold_method="poisson")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        F.FarringtonSettings(limit54=(5, 0))


def _max_differences() -> None:
    """Print, per golden case, the largest relative difference to R of each output."""
    keys = [
        ("upperbound", "upper"),
        ("expected", "expected"),
        ("score", "score"),
        ("pvalue", "p_value"),
        ("phi", "phi"),
        ("trendVector", "trend_coef"),
        ("mu0Vector", "mu0"),
    ]
    print(f"{'case':40s} {'n':>4s} " + " ".join(f"{r:>11s}" for r, _ in keys) + "  alarms(R)")
    for case in CASES:
        res = _run(case)
        unscored = np.array([a is None for a in case["result"]["alarm"]])
        cells = []
        for rkey, mkey in keys:
            ref = _arr(case["result"][rkey])
            if rkey == "expected":
                ref[unscored] = np.nan
            cells.append(f"{_close(getattr(res, mkey), ref)[1]:11.1e}")
        n_alarm = sum(bool(a) for a in case["result"]["alarm"] if a is not None)
        print(f"{case['name']:40s} {len(res.index):4d} " + " ".join(cells) + f"  {n_alarm}")


if __name__ == "__main__":
    _max_differences()
