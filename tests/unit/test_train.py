import numpy as np

from tasks.train import make_windows, package_versions


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
