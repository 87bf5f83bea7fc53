"""How well the forecaster's calibrated predictive distribution is calibrated: band coverage and PIT.

Scored on the clean days of labelled series (no outbreak, no driver-explained event), where the distribution
should hold; shared/notes/evaluation.md defines coverage and the randomised PIT for counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.detectors.counts import _nb_method, _student_tail, _student_tail_inverse
from tasks.detectors.ensemble import ensemble_config, ensemble_distribution
from tasks.detectors.schema import DetectorConfig, Series, validate_frame
from tasks.evaluation.metrics import LabelledSeries

CALIBRATION_COLUMNS = ["scenario", "seed", "n_days", "band", "pit", *[f"pit_{i}" for i in range(10)]]
"""One row per (scenario, seed): clean days scored, band coverage, PIT coverage, the 10-bin PIT histogram."""


def calibration_summary(
    actual: np.ndarray, dist: dict[str, np.ndarray], clean: np.ndarray, rng: np.random.Generator, coverage: float = 0.95
) -> dict[str, Any]:
    """Coverage and PIT of a calibrated predictive distribution on the ``(T,)`` bool ``clean`` days it scores.

    The distribution is the detectors' own: NB2(mean, phi) read through Student's t with ``dof`` (its CDF is
    G(F_NB(y)), G(p) = t_dof(Phi^-1(p))). ``band``: share of days inside the central ``coverage`` band of
    integer quantiles (at least nominal by discreteness: both edges belong to the band); ``pit``: share of
    randomised PIT values in [(1 - coverage) / 2, (1 + coverage) / 2] (exactly nominal when the distribution is
    calibrated, at any count level); ``pit_0`` .. ``pit_9``: the 10-bin PIT histogram (shares).
    """
    y = np.asarray(actual, dtype="float64")
    ok = clean & np.isfinite(y) & np.isfinite(dist["mean"]) & np.isfinite(dist["phi"])
    if not ok.any():
        return {"n_days": 0, "band": np.nan, "pit": np.nan} | {f"pit_{i}": np.nan for i in range(10)}
    yy, mu, ph, dof = y[ok], dist["mean"][ok], dist["phi"][ok], dist["dof"][ok]

    def corrected(p: np.ndarray) -> np.ndarray:
        return np.where(p < 0.5, _student_tail(p, dof), 1.0 - _student_tail(1.0 - p, dof))

    upper_cdf = corrected(np.clip(_nb_method("cdf", yy, mu, ph), 0.0, 1.0))
    below = np.clip(_nb_method("cdf", np.maximum(yy - 1.0, 0.0), mu, ph), 0.0, 1.0)
    lower_cdf = np.where(yy > 0, corrected(below), 0.0)
    pit = lower_cdf + rng.random(yy.shape) * (upper_cdf - lower_cdf)
    tail = (1.0 - coverage) / 2.0
    raw = _student_tail_inverse(np.full(yy.shape, tail), dof)
    lower, upper = _nb_method("ppf", raw, mu, ph), _nb_method("ppf", 1.0 - raw, mu, ph)
    hist = np.histogram(pit, bins=10, range=(0.0, 1.0))[0].astype("float64") / ok.sum()
    return {
        "n_days": int(ok.sum()),
        "band": float(np.mean((yy >= lower) & (yy <= upper))),
        "pit": float(np.mean((pit >= tail) & (pit <= 1.0 - tail))),
    } | {f"pit_{i}": float(h) for i, h in enumerate(hist)}


def forecast_calibration(
    series: LabelledSeries, ensemble: tuple[np.ndarray, np.ndarray], detect: DetectorConfig, rng: np.random.Generator
) -> dict[str, Any]:
    """:func:`calibration_summary` of the forecaster's predictive distribution (the one forecast_calibrated and
    forecast_ewma test against) on the series' clean scored days."""
    cfg = ensemble_config(detect)
    frame = validate_frame(series.frame[["date", "actual", "driver"]])
    dist = ensemble_distribution(Series(frame, ensemble=ensemble), cfg, "forecast_calibrated")
    clean = series.scored & ~series.mask
    return calibration_summary(series.frame["actual"].to_numpy(dtype="float64"), dist, clean, rng)
