from datetime import date

import numpy as np
import pytest

from tasks.config import RetrainConfig
from tasks.train import decide_retraining, make_windows, package_versions


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
