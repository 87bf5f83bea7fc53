"""The one table of detectors: what each is, what it needs, how its score reads, and where its code is.

The pipeline (extract), ``hotspot explain``, the backtest and the tests all go through this table, and the
config's list of detector names (``detect.decider``) is derived from it. Adding a detector is one module
with a ``columns(series, config)`` function (see :mod:`tasks.detectors.schema`) and one line here.
This module imports nothing from the project, so the config can read the names without importing the
detectors themselves; each function is imported when it first runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Statistic = Literal["deviation", "ears", "signed_z"]
"""How a detector's score is thresholded in the matched-false-alarm comparison (tasks/evaluation):
the study's unsigned deviation, an EARS C statistic (larger = surge), or a signed z oriented by the
hotspot direction."""


@dataclass(frozen=True)
class DetectorSpec:
    """One detector: ``function`` is "module:attribute" of its ``columns(series, config)``."""

    name: str
    function: str
    needs_forecast: bool
    statistic: Statistic
    score: str
    summary: str
    needs_ensemble: bool = False
    """It scores the driver-conditioned forecaster's ensemble forecast (tasks/forecast.py)."""

    def load(self) -> Callable[..., dict[str, Any]]:
        module, _, attribute = self.function.partition(":")
        return getattr(importlib.import_module(module), attribute)


REGISTRY: tuple[DetectorSpec, ...] = (
    DetectorSpec("seed", "tasks.detectors.seed:columns", True, "deviation",
                 "deviation_pct = |actual - predicted| / actual x 100 (unsigned; NaN at 0 cases)",
                 "the reference study's rule: deviation from the LSTM forecast above extract.threshold_pct"),
    DetectorSpec("ears_c1", "tasks.detectors.ears:c1", False, "ears",
                 "C1 z-statistic (actual - mean) / max(sd, min_sigma) over the 7 days before",
                 "CDC EARS C1: today against the previous 7 days"),
    DetectorSpec("ears_c2", "tasks.detectors.ears:c2", False, "ears",
                 "C2 z-statistic as C1 with the baseline shifted back by the guard band",
                 "CDC EARS C2: as C1 with a 2-day guard band"),
    DetectorSpec("ears_c3", "tasks.detectors.ears:c3", False, "ears",
                 "C3 = sum over today and the 2 previous days of max(0, C2 - 1)",
                 "CDC EARS C3: C2 accumulated over 3 days"),
    DetectorSpec("naive_calibrated", "tasks.detectors.counts:naive_calibrated", False, "signed_z",
                 "signed z = Phi^-1(1 - mid-p upper tail) under the calibrated NB; > 0 = surge",
                 "the 7-day mean as forecast, with a calibrated negative-binomial distribution"),
    DetectorSpec("lstm_calibrated", "tasks.detectors.counts:lstm_calibrated", True, "signed_z",
                 "signed z = Phi^-1(1 - mid-p upper tail) under the calibrated NB; > 0 = surge",
                 "the LSTM forecast, with a calibrated negative-binomial distribution"),
    DetectorSpec("naive_ewma", "tasks.detectors.ewma:naive_ewma", False, "signed_z",
                 "EWMA of naive_calibrated's z, divided by its null sd (N(0, 1) without outbreak); > 0 = surge",
                 "naive_calibrated's z accumulated over recent days (EWMA)"),
    DetectorSpec("lstm_ewma", "tasks.detectors.ewma:lstm_ewma", True, "signed_z",
                 "EWMA of lstm_calibrated's z, divided by its null sd (N(0, 1) without outbreak); > 0 = surge",
                 "lstm_calibrated's z accumulated over recent days (EWMA)"),
    DetectorSpec("forecast_calibrated", "tasks.detectors.ensemble:forecast_calibrated", False, "signed_z",
                 "signed z = Phi^-1(1 - mid-p upper tail) under the calibrated NB; > 0 = surge",
                 "the driver-conditioned ensemble forecast (target history, today's driver, day of week), with a "
                 "calibrated negative-binomial distribution", needs_ensemble=True),
    DetectorSpec("forecast_ewma", "tasks.detectors.ensemble:forecast_ewma", False, "signed_z",
                 "EWMA of forecast_calibrated's z over its null sd (N(0, 1) without outbreak); > 0 = surge",
                 "forecast_calibrated's z accumulated over recent days (EWMA)", needs_ensemble=True),
    DetectorSpec("farrington", "tasks.detectors.farrington:columns", False, "ears",
                 "(actual - expected) / (upper - expected) on the method's scale; > 1 = above the threshold",
                 "the improved Farrington method (Noufaily et al. 2013): a GLM baseline from the same time of past "
                 "years"),
)  # fmt: skip

NAMES: tuple[str, ...] = tuple(spec.name for spec in REGISTRY)
"""Every detector's name, in registry order (the order of the detections table and of ``agreeing``)."""
SPECS: dict[str, DetectorSpec] = {spec.name: spec for spec in REGISTRY}


def spec(name: str) -> DetectorSpec:
    """The registry entry of ``name``; ValueError naming the known detectors otherwise."""
    if name not in SPECS:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(NAMES)}")
    return SPECS[name]
