from datetime import date

import numpy as np
import pandas as pd
import pytest

from tasks.config import RetrainConfig, SeriesConfig
from tasks.train import decide_retraining, history_frame, make_windows, package_versions, plan_training


def test_windows_run_forward_in_time() -> None:
    w = make_windows(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), look_back=2)
    np.testing.assert_array_equal(w.x, [[1, 2], [2, 3], [3, 4]])
    np.testing.assert_array_equal(w.y, [3, 4, 5])
    np.testing.assert_array_equal(w.index, [2, 3, 4])


def test_windows_touching_a_gap_are_skipped() -> None:
    w = make_windows(np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0]), look_back=2)
    np.testing.assert_array_equal(w.index, [2, 6, 7])
    np.testing.assert_array_equal(w.x, [[1, 2], [5, 6], [6, 7]])


def test_too_short_series_gives_no_window() -> None:
    assert len(make_windows(np.array([1.0, 2.0]), look_back=2)) == 0
    assert make_windows(np.array([1.0, 2.0]), look_back=2).x.shape == (0, 2)


def test_package_versions_are_recorded() -> None:
    versions = package_versions()
    assert {"python", "tensorflow-cpu", "keras", "numpy", "pandas"} <= versions.keys()
    assert versions["numpy"] == np.__version__


def card(model_id: str, trained: str, windows: int) -> dict:
    return {"model_id": model_id, "trained_run_date": trained, "training_windows": windows}


@pytest.mark.parametrize(
    ("policy", "run_date", "windows", "expected"),
    [
        ("when_stale", date(2022, 8, 3), 105, ("m1", "model is 2 day(s) old and data grew 5.0 %: still fresh")),
        ("when_stale", date(2022, 8, 8), 101, (None, "model is 7 day(s) old (limit 7)")),
        ("when_stale", date(2022, 8, 2), 111, (None, "training windows grew 11.0 % (limit 10 %)")),
        ("never", date(2022, 12, 1), 500, ("m1", "retrain policy 'never'")),
        ("always", date(2022, 8, 2), 100, (None, "retrain policy 'always'")),
    ],
)
def test_retrain_policy(policy: str, run_date: date, windows: int, expected: tuple) -> None:
    cards = [card("m0", "2022-07-01", 80), card("m1", "2022-08-01", 100)]
    assert decide_retraining(RetrainConfig(policy=policy), cards, "new", run_date, windows) == expected


def test_identical_data_reuses_under_every_policy_and_first_run_trains() -> None:
    cards = [card("same", "2022-01-01", 10)]
    for policy in ("always", "never", "when_stale"):
        chosen, _ = decide_retraining(RetrainConfig(policy=policy), cards, "same", date(2023, 1, 1), 10)
        assert chosen == "same"
    assert decide_retraining(RetrainConfig(), [], "x", date(2022, 1, 1), 10) == (None, "no compatible model yet")


def test_window_digest_tracks_content() -> None:
    a = make_windows(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert a.digest() == make_windows(np.array([1.0, 2.0, 3.0, 4.0]), 2).digest()
    assert a.digest() != make_windows(np.array([1.0, 2.0, 3.0, 5.0]), 2).digest()


def _scaled(regions: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    """{region: (target, driver)} raw counts -> a scaled daily frame as tasks.scale writes it."""
    from tasks.scale import scale_series

    rows = []
    for region, (target, driver) in regions.items():
        dates = pd.date_range("2022-01-01", periods=len(target), freq="D", unit="us")
        rows.append(pd.DataFrame({"date": dates, "region": region, "confirmed": target, "asymptomatic": driver}))
    return scale_series(pd.concat(rows, ignore_index=True), SeriesConfig())[0]


def test_plan_trains_on_the_driver_and_falls_back_to_the_target_with_a_reason() -> None:
    ramp = [float(v) for v in range(1, 11)]
    nan = float("nan")
    scaled = _scaled(
        {
            "good": (ramp, ramp),
            "constant": (ramp, [0.0] * 10),
            "sparse": (ramp, [1.0, 2.0, nan, 4.0, 5.0, nan, 7.0, 8.0, nan, 10.0]),
            "none": (ramp, [nan] * 10),
            "short": ([1.0, 2.0, 3.0, nan, 5.0, 6.0, nan, 8.0, 9.0, nan], [nan] * 10),
        }
    )
    plan = plan_training(scaled, SeriesConfig(min_windows=5), look_back=2)
    assert plan.regions == ["constant", "good", "none", "sparse"]
    assert plan.roles == ["target", "driver", "target", "target"]
    assert [len(w) for w in plan.windows] == [8, 8, 8, 8]
    assert plan.notes == {
        "constant": "trained on the target's own history: driver is constant (0 on every published day)",
        "none": "trained on the target's own history: no driver value published",
        "sparse": "trained on the target's own history: driver has 0 complete window(s), fewer than "
        "series.min_windows = 5",
        "short": "not modelled: no driver value published, and the target has only 1 complete window(s)",
    }
    assert plan.skipped == {"short": plan.notes["short"]}
    skip = plan_training(scaled, SeriesConfig(min_windows=5, driver_fallback="skip"), look_back=2)
    assert skip.regions == ["good"]
    assert skip.skipped["none"] == "not modelled: no driver value published (series.driver_fallback = skip)"
    again = plan_training(scaled, SeriesConfig(min_windows=5), 2)
    assert plan.digest() != skip.digest() and plan.digest() == again.digest()


def test_history_frame_is_long_epoch_by_region() -> None:
    frame = history_frame(["A", "B"], np.array([[0.5, 0.4], [0.3, 0.2], [0.1, 0.05]], dtype="float32"))
    assert frame["epoch"].tolist() == [1, 1, 2, 2, 3, 3]
    assert frame["region"].tolist() == ["A", "B"] * 3
    np.testing.assert_allclose(frame["loss"], [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], rtol=1e-6)


def test_series_id_depends_on_the_name_only() -> None:
    from tasks.lstm import series_id

    assert series_id("CN") == series_id("CN") and series_id("CN") != series_id("Beijing")
    assert 0 <= series_id("Beijing") < 2**62
