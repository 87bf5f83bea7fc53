"""Driver-conditioned forecaster (tasks/forecast.py): inputs, plan, robustness helpers, walk-forward honesty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.config import ForecastConfig
from tasks.forecast import (
    N_FEATURES,
    LogScaler,
    SeriesInput,
    design,
    driver_problem,
    fit_schedule,
    robust_level,
    robust_weights,
    series_levels,
    walk_forward,
)

DATES = pd.date_range("2024-01-01", periods=60, freq="D").to_numpy()  # day 0 is a Monday


def pair(n: int = 60, seed: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    driver = rng.poisson(100 * np.exp(0.3 * np.sin(np.arange(n) / 9))).astype("float64")
    target = rng.poisson(0.3 * np.concatenate([[100, 100], driver[:-2]])).astype("float64")
    return target, driver


def test_design_steps_flags_and_day_of_week() -> None:
    target, driver = pair()
    driver[20] = np.nan
    scaler = LogScaler(0.0, 0.0, 1.0)
    x, complete = design(target, driver, DATES, 4, scaler, True)
    assert x.shape == (60, 5, N_FEATURES)
    assert not complete[:4].any() and complete[4:].all()
    t = 22  # steps are days 18 .. 22; today's target is unknown, the driver gap (day 20) is flagged
    np.testing.assert_allclose(x[t, :4, 0], np.log1p(target[18:22]), rtol=1e-6)
    assert x[t, 4, 0] == 0 and x[t, :, 1].tolist() == [1, 1, 1, 1, 0]
    assert x[t, :, 3].tolist() == [1, 1, 0, 1, 1] and x[t, 2, 2] == 0
    np.testing.assert_allclose(x[t, 4, 2], np.log1p(driver[22]), rtol=1e-6)
    assert (x[t, :, 6:].argmax(axis=1) == np.arange(18, 23) % 7).all()  # one-hot day of week, Monday = 0
    no_driver, _ = design(target, driver, DATES, 4, scaler, False)
    assert (no_driver[:, :, 2:4] == 0).all()  # the fallback: driver inputs and flags zeroed
    target[30] = np.nan
    _, complete = design(target, driver, DATES, 4, scaler, True)
    assert not complete[31:35].any() and complete[30] and complete[35]


def test_driver_problems() -> None:
    target, driver = pair()
    assert driver_problem(target, driver, 4, 20) == ""
    assert "no driver" in driver_problem(target, np.full(60, np.nan), 4, 20)
    assert "constant" in driver_problem(target, np.full(60, 5.0), 4, 20)
    assert "identical" in driver_problem(target, target.copy(), 4, 20)
    sparse = driver.copy()
    sparse[::3] = np.nan
    assert "window" in driver_problem(target, sparse, 4, 20)


def test_fit_schedule_is_past_only_and_weekly() -> None:
    target, _ = pair()
    complete = np.arange(60) >= 4
    plan = fit_schedule(target, complete, ForecastConfig(look_back=4, min_windows=20, max_train_days=0))
    assert [d for d, _, _ in plan] == [24, 31, 38, 45, 52, 59]
    for d, train, days in plan:
        assert train.max() < d and days.min() == d and len(train) >= 20
    capped = fit_schedule(target, complete, ForecastConfig(look_back=4, min_windows=20, max_train_days=28))
    assert all(train.min() >= d - 28 for d, train, _ in capped)


def test_robust_weights_and_level() -> None:
    r = np.concatenate([np.random.default_rng(0).normal(0, 1, 200), [12.0]])
    w = robust_weights(r, 2.58)
    assert w[:-1].min() > 0.3 and w[-1] < 0.1
    x = np.log1p(np.full(40, 100.0))
    x[20] = np.log1p(1000.0)  # a one-day outbreak
    level, accepted = robust_level(x, 0.1, 2.58)
    assert abs(level[20] - level[19]) < 0.05 and accepted[20] < np.log1p(200)
    changed = x.copy()
    changed[30:] += 1.0
    level2, _ = robust_level(changed, 0.1, 2.58)
    np.testing.assert_array_equal(level2[:30], level[:30])  # past-only
    levels = series_levels(np.expm1(x), np.expm1(x), 0.1, 2.58)
    assert levels.driver_level[20] > levels.target_level[20]  # the driver's level is not clipped


def test_robust_level_follows_a_new_epidemic_after_a_run_of_zeros() -> None:
    # 80 days without a case, then 40 days at about 50 a day (a region's first wave): the level must reach the
    # new regime within weeks, not stay trapped at zero because the zeros shrank the scale to nothing.
    counts = np.concatenate([np.zeros(80), np.full(40, 50.0)])
    level, accepted = robust_level(np.log1p(counts), 0.1, 2.58)
    assert accepted[80] > np.log1p(5.0)  # the first day of the wave enters the inputs, clipped but not erased
    assert np.expm1(level[100]) > 25.0 and np.expm1(level[-1]) > 45.0
    steady = robust_level(np.log1p(np.full(60, 1000.0)), 0.1, 2.58)[0]
    np.testing.assert_allclose(np.expm1(steady), 1000.0)  # a flat series stays flat


@pytest.mark.slow
def test_walk_forward_uses_only_the_past() -> None:
    # Changing the target from day 40 on, and the driver from day 41 on, must leave every forecast of days <= 40
    # bit for bit unchanged (day 40's forecast uses targets up to day 39 and the driver up to day 40).
    config = ForecastConfig(look_back=4, epochs=2, members=2, min_windows=15, robust_epochs=1)
    target, driver = pair()
    base = walk_forward([SeriesInput("A", target, driver, DATES), SeriesInput("B", target[::-1].copy(), driver, DATES)],
                        config, seed=3)  # fmt: skip
    t2, d2 = target.copy(), driver.copy()
    t2[40:] *= 3
    d2[41:] += 50
    changed = walk_forward([SeriesInput("A", t2, d2, DATES), SeriesInput("B", target[::-1].copy(), driver, DATES)],
                           config, seed=3)  # fmt: skip
    assert np.isfinite(base[0].mean[19:41]).all() and not np.isfinite(base[0].mean[:19]).any()
    np.testing.assert_array_equal(changed[0].mean[:41], base[0].mean[:41])
    np.testing.assert_array_equal(changed[0].members[:, :41], base[0].members[:, :41])
    np.testing.assert_array_equal(changed[1].mean, base[1].mean)  # another region never depends on this one
    assert not np.array_equal(changed[0].mean[41:], base[0].mean[41:])
    assert base[0].members.shape == (2, 60) and (base[0].fit_day[19:] >= 19).all()
    warm = walk_forward([SeriesInput("A", target, driver, DATES)], config.model_copy(update={"refit_epochs": 1}), 3)
    assert np.isfinite(warm[0].mean[19:]).all()
