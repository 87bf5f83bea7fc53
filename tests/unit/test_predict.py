"""Predict: every region's model applied to its own series, on a gap-explicit calendar."""

import numpy as np
import pandas as pd

from tasks.predict import predict_matrix, predict_regions, region_matrix
from tasks.scale import MinMaxScaler
from tasks.schemas import PREDICTION_COLUMNS


class SumModel:
    """A stand-in grouped model: series s predicts (s + 1) x the sum of its window; input (M, S, L) -> (M, S)."""

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x.sum(axis=2) * (np.arange(x.shape[1]) + 1)


def test_region_matrix_pads_each_region_after_its_end() -> None:
    frame = pd.DataFrame({"region": ["A", "A", "A", "B", "B"], "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    matrix, position = region_matrix(frame, "v", ["B", "A"])
    np.testing.assert_array_equal(matrix, [[4.0, 5.0, np.nan], [1.0, 2.0, 3.0]])
    assert position.tolist() == [0, 1, 2, 0, 1]


def test_predict_matrix_uses_series_own_model_and_skips_incomplete_windows() -> None:
    values = np.array([[1.0, 2.0, 3.0, np.nan, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    out = predict_matrix(SumModel(), values, look_back=2)
    np.testing.assert_array_equal(out[0], [np.nan, np.nan, 3.0, 5.0, np.nan])  # window (3, nan) is incomplete
    np.testing.assert_array_equal(out[1], [np.nan, np.nan, 4.0, 4.0, 4.0])  # series 1: 2 x (1 + 1)


def test_predict_regions_scales_back_per_region_and_marks_regions_without_a_model() -> None:
    dates = pd.date_range("2022-01-01", periods=3, freq="D", unit="us")
    scaled = pd.DataFrame(
        {
            "date": list(dates) * 2,
            "region": pd.Series(["A"] * 3 + ["B"] * 3, dtype="str"),
            "target": [10.0, 20.0, 30.0, 1.0, 2.0, 3.0],
            "driver": [1.0] * 6,
            "target_scaled": [0.0, 0.25, 0.5, 0.0, 0.5, 1.0],
            "driver_scaled": [0.1] * 6,
        }
    )
    scalers = {
        "A": {"target": MinMaxScaler(10.0, 50.0), "driver": MinMaxScaler(0.0, 10.0)},
        "B": {"target": MinMaxScaler(1.0, 3.0), "driver": None},
    }
    out = predict_regions(SumModel(), ["A"], scaled, scalers, 2, {"A": "driver"}, {"B": "not modelled: x"})
    assert list(out.columns) == PREDICTION_COLUMNS
    a_target = out[(out["region"] == "A") & (out["role"] == "target")]
    np.testing.assert_allclose(a_target["predicted"], [np.nan, np.nan, 10.0 + 0.25 * 40.0])
    a_driver = out[(out["region"] == "A") & (out["role"] == "driver")]
    np.testing.assert_allclose(a_driver["predicted"], [np.nan, np.nan, 0.2 * 10.0])
    b = out[out["region"] == "B"]
    assert (
        b["predicted"].isna().all() and set(b["trained_on"]) == {"none"} and set(b["model_note"]) == {"not modelled: x"}
    )
    assert set(out.loc[out["region"] == "A", "trained_on"]) == {"driver"}
