import numpy as np
import pandas as pd
import pytest

from tasks.config import SeriesConfig
from tasks.scale import MinMaxScaler, ScaleError, fit_minmax, scale_series, scalers_from_dict


def test_fit_ignores_gaps_and_round_trips() -> None:
    scaler = fit_minmax(np.array([10.0, np.nan, 30.0, 20.0]))
    assert scaler == MinMaxScaler(10.0, 30.0)
    scaled = scaler.transform(np.array([10.0, 20.0, 30.0, np.nan]))
    np.testing.assert_array_equal(scaled, [0.0, 0.5, 1.0, np.nan])
    np.testing.assert_array_equal(scaler.inverse(scaled), [10.0, 20.0, 30.0, np.nan])
    assert scalers_from_dict({"CN": {"target": scaler.to_dict(), "driver": None}}) == {
        "CN": {"target": scaler, "driver": None}
    }


def test_constant_series_maps_to_zero() -> None:
    scaler = fit_minmax(np.array([5.0, 5.0]))
    np.testing.assert_array_equal(scaler.transform(np.array([5.0, 6.0])), [0.0, 1.0])


def test_all_missing_is_an_error() -> None:
    with pytest.raises(ScaleError, match="no observed value"):
        fit_minmax(np.array([np.nan]))


def test_scale_series_makes_missing_days_explicit() -> None:
    valid = pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-01", "2022-01-02", "2022-01-04"]).astype("datetime64[us]"),
            "region": ["CN"] * 3,
            "confirmed": pd.array([1, 3, 5], dtype="Int64"),
            "asymptomatic": pd.array([10, pd.NA, 30], dtype="Int64"),
        }
    )
    scaled, scalers = scale_series(valid, SeriesConfig())
    assert scaled["date"].dt.day.tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(scaled["target"], [1.0, 3.0, np.nan, 5.0])
    np.testing.assert_array_equal(scaled["target_scaled"], [0.0, 0.5, np.nan, 1.0])
    np.testing.assert_array_equal(scaled["driver_scaled"], [0.0, np.nan, np.nan, 1.0])
    assert scalers == {"CN": {"target": MinMaxScaler(1.0, 5.0), "driver": MinMaxScaler(10.0, 30.0)}}


def test_unknown_region_lists_known_ones() -> None:
    valid = pd.DataFrame(
        {"date": pd.to_datetime(["2022-01-01"]), "region": ["HB"], "confirmed": [1], "asymptomatic": [1]}
    )
    with pytest.raises(ScaleError, match="region\\(s\\) CN not in the data \\(regions: HB\\)"):
        scale_series(valid, SeriesConfig(region="CN"))


def test_every_region_is_scaled_on_its_own_span_and_values() -> None:
    """Regions with different spans: each gets its own calendar and scalers; a role never published stays NaN."""
    valid = pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-01-02", "2022-01-04", "2022-01-01", "2022-01-02"]).astype("datetime64[us]"),
            "region": ["B", "B", "A", "A"],
            "confirmed": [2.0, 4.0, 100.0, 300.0],
            "asymptomatic": [np.nan, np.nan, 10.0, 20.0],
        }
    )
    scaled, scalers = scale_series(valid, SeriesConfig())
    assert scaled["region"].tolist() == ["A", "A", "B", "B", "B"]
    assert scaled["date"].dt.day.tolist() == [1, 2, 2, 3, 4]
    np.testing.assert_array_equal(scaled["target_scaled"], [0.0, 1.0, 0.0, np.nan, 1.0])
    assert scaled["driver_scaled"].iloc[:2].tolist() == [0.0, 1.0] and scaled["driver_scaled"].iloc[2:].isna().all()
    assert scalers["B"] == {"target": MinMaxScaler(2.0, 4.0), "driver": None}
    only_b, _ = scale_series(valid, SeriesConfig(region=" B "))
    assert set(only_b["region"]) == {"B"}
    assert SeriesConfig(region="B, A").regions(["A", "B", "C"]) == ["A", "B"]
    assert SeriesConfig().regions(["C", "A"]) == ["A", "C"]
