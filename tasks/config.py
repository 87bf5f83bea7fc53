"""Typed configuration: one frozen model per stage, nested in :class:`PipelineConfig`.

These models are the deployment parameters shown in the Prefect UI, so every field is
documented where it is defined. Defaults are the reference study's values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.detectors.registry import NAMES
from tasks.schemas import COUNT_COLUMNS


class _Frozen(BaseModel):
    # Floats must be finite: an Infinity or NaN setting would only fail much later, deep in a stage.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """``epochs: true`` must not quietly mean 1 epoch: a boolean is not a number here."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if field.annotation in (int, float) and isinstance(data.get(name), bool):
                    raise ValueError(f"{name} = {data[name]!r}: a boolean is not accepted as a number")
        return data


class IngestConfig(_Frozen):
    default_region: str = Field(
        default="CN",
        description="Region code given to every row when the input has no region column at all. In a file that "
        "has a region column, an empty region cell is a bad row (quarantined with its reason), never this default.",
        min_length=1,
    )
    date_column: str = Field(
        default="",
        description="Header of the date column in the input files (case and spacing ignored); empty: the accepted "
        "headers (date, 日期, day, report_date, ...).",
    )
    region_column: str = Field(
        default="",
        description="Header of the region column; empty: the accepted headers (region, province, 地区, ...). A file "
        "without a region column is one region, ingest.default_region.",
    )
    target_column: str = Field(
        default="",
        description="Header of the target count column (whose unexplained moves are hotspots), e.g. 'cases'; empty: "
        "the study's headers (confirmed, new_confirmed_local, 本土新增确诊, ...).",
    )
    driver_column: str = Field(
        default="",
        description="Header of the driver count column (the series that explains the target); empty: the study's "
        "headers (asymptomatic, new_asymptomatic_local, 本土新增无症状, ...), and a file without one is modelled on "
        "the target's own history; 'none': ignore any driver column.",
    )
    max_file_mb: float = Field(
        default=500,
        description="Largest input file accepted, in MB; a larger file is rejected before it is read.",
        gt=0,
    )
    max_line_chars: int = Field(
        default=100_000,
        description="Longest line (row) of a CSV file, in characters: a longer row is quarantined with its line "
        "number (its cells cut short), and a file whose first line is longer is rejected as no table. Bounds the "
        "work spent on one malformed line.",
        ge=100,
    )
    max_download_mb: float = Field(default=100, description="Largest file accepted from an input URL, in MB.", gt=0)
    download_timeout_s: float = Field(default=30, description="Seconds to wait for an input URL to answer.", gt=0)


class RetrainConfig(_Frozen):
    policy: Literal["always", "never", "when_stale"] = Field(
        default="when_stale",
        description=(
            "always: train every run; never: reuse the newest compatible model (train only if none exists); "
            "when_stale: reuse it unless it is older than max_age_days or the training windows grew by more "
            "than max_growth_pct. A model trained on exactly the same data is always reused."
        ),
    )
    max_age_days: int = Field(default=7, description="when_stale: retrain once the model is this many days old.", ge=0)
    max_growth_pct: float = Field(
        default=10.0, description="when_stale: retrain once the training windows grew by more than this.", ge=0
    )


class ValidateConfig(_Frozen):
    max_count: int = Field(
        default=10_000_000,
        description="Largest plausible daily count; larger values are quarantined as implausible.",
        gt=0,
    )


class SeriesConfig(_Frozen):
    target: str = Field(
        default="confirmed",
        description="Canonical column whose unexplained moves are hotspots (the study: local new confirmed).",
    )
    driver: str = Field(
        default="asymptomatic",
        description="Canonical column the model is trained on (the study: local new asymptomatic).",
    )

    @model_validator(mode="after")
    def _known_and_distinct(self) -> SeriesConfig:
        for role in ("target", "driver"):
            if getattr(self, role) not in COUNT_COLUMNS:
                raise ValueError(
                    f"{role} = {getattr(self, role)!r} is not a column of the data; use one of "
                    f"{', '.join(COUNT_COLUMNS)}"
                )
        if self.target == self.driver:
            raise ValueError(f"target and driver are both {self.target!r}; they must differ")
        return self

    region: str = Field(
        default="all",
        description="Regions modelled and scored: 'all' (every region in the data: with the shipped data the "
        "national series 'CN' and the 32 provinces), one region code such as 'CN', or a comma-separated list.",
        min_length=1,
    )
    frequency: Literal["auto", "daily", "weekly"] = Field(
        default="auto",
        description="Periods of the series. 'auto': weekly when every region's dates fall on one weekday, 7 days "
        "apart (gaps allowed), else daily; mixed spacing is refused with the offending dates. Every stage then "
        "counts periods: look_back, EARS baselines and guard bands, calibration and guard windows are in days "
        "or in weeks.",
    )
    min_windows: int = Field(
        default=20,
        description="Fewest complete windows (look_back + 1 observed days in a row) a region's training series "
        "needs. A region whose driver has fewer, or is constant, gets driver_fallback; a fallback target with "
        "fewer is not scored.",
        ge=1,
    )
    driver_fallback: Literal["target", "skip"] = Field(
        default="target",
        description="What a region without a usable driver gets. 'target': its model is trained on the target's "
        "own history (a one-step forecaster of the target); 'skip': it is not scored, and its days are listed as "
        "unscored with the reason. The report's trained_on and model_note columns say which applied.",
    )

    def regions(self, available: list[str]) -> list[str]:
        """The selected regions among ``available`` (sorted); raises ValueError naming any unknown one."""
        if self.region.strip().lower() == "all":
            return sorted(available)
        wanted = [part.strip() for part in self.region.split(",") if part.strip()]
        unknown = [name for name in wanted if name not in available]
        if unknown or not wanted:
            known = ", ".join(sorted(available)[:12]) + (" ..." if len(available) > 12 else "")
            raise ValueError(f"region(s) {', '.join(unknown) or repr(self.region)} not in the data (regions: {known})")
        return sorted(set(wanted))


class TrainConfig(_Frozen):
    look_back: int = Field(default=2, description="Days of history the model sees per prediction.", ge=1, le=60)
    units: int = Field(default=4, description="LSTM hidden units.", ge=1, le=512)
    learning_rate: float = Field(default=0.01, description="Adam learning rate.", gt=0, le=1)
    beta_1: float = Field(default=0.9, description="Adam first-moment decay.", gt=0, lt=1)
    beta_2: float = Field(default=0.999, description="Adam second-moment decay.", gt=0, lt=1)
    epochs: int = Field(default=30, description="Passes over the training windows.", ge=1, le=10_000)
    batch_size: int = Field(default=3, description="Windows per optimizer step.", ge=1, le=100_000)
    seed: int = Field(default=42, description="Seed for weights and shuffling; same seed, same model.")


class ForecastConfig(_Frozen):
    """The driver-conditioned forecaster (tasks/forecast.py), beside the study's model, which stays as is.

    Its forecasts are what the forecast_* detectors score. Defaults were chosen on simulated design seeds
    (1000-1049) by a rule fixed in advance (docs/methods.md); its seeds come from ``train.seed`` and each
    region's name, like the study's.
    """

    look_back: int = Field(
        default=4,
        description="Days of the target's history (t-look_back .. t-1) and of the driver (t-look_back .. t, today "
        "included: it is published with today's target) the model sees to forecast day t.",
        ge=1,
        le=60,
    )
    units: int = Field(default=4, description="LSTM hidden units.", ge=1, le=512)
    learning_rate: float = Field(default=0.01, description="Adam learning rate.", gt=0, le=1)
    epochs: int = Field(default=15, description="Passes over the training windows (first pass).", ge=1, le=10_000)
    batch_size: int = Field(default=32, description="Windows per optimizer step.", ge=1, le=100_000)
    members: int = Field(
        default=5, description="Seed-ensemble members per region; the forecast is their mean.", ge=1, le=100
    )
    robust_z: float = Field(
        default=2.58,
        description="Second pass: training windows whose standardised first-pass residual |z| exceeds this are "
        "down-weighted by (robust_z / z)^2 (Farrington / Noufaily reweighting), so past outbreaks do not teach "
        "the model to expect them.",
        gt=0,
    )
    robust_epochs: int = Field(
        default=5,
        description="Epochs of the reweighted second pass, continued from the first pass's weights; 0 = no "
        "second pass.",
        ge=0,
        le=10_000,
    )
    refit_days: int = Field(
        default=7,
        description="Walk-forward cadence: a model fitted on the days before d forecasts d .. d + refit_days - 1 "
        "(the retrain policy when_stale with max_age_days 7).",
        ge=1,
        le=365,
    )
    refit_epochs: int = Field(
        default=0,
        description="0: every refit trains from fresh initial weights for `epochs`. > 0: warm start, a refit continues "
        "the region's previous fit for this many epochs on all its windows to date (the first fit trains `epochs`).",
        ge=0,
        le=10_000,
    )
    max_train_days: int = Field(
        default=0,
        description="Only windows of the last this many days before a refit are trained on (0 = all history): "
        "bounds the cost for long series and follows regime changes.",
        ge=0,
    )
    min_windows: int = Field(
        default=20, description="Fewest complete training windows before a region's first fit.", ge=1
    )
    residual_target: bool = Field(
        default=False,
        description="The network forecasts the departure of log1p(target) from the target's robust level (needs "
        "level_lambda > 0); with False it forecasts the scaled log1p(target) itself.",
    )
    bias_factor: bool = Field(
        default=True,
        description="Rescale each fit's forecasts by sum(target) / sum(fitted) over its own training days (the model "
        "forecasts log counts, i.e. about the median; this makes it a mean).",
    )
    level_lambda: float = Field(
        default=0.1,
        description="Weight of today in the robust exponential level of the target and the driver given to the model "
        "as two extra features (a long-memory summary of the same past days); 0 = no level features and raw target "
        "inputs.",
        ge=0,
        le=1,
    )
    input_clip_z: float = Field(
        default=2.58,
        description="The target's inputs (and its level) take each day at most this many robust sd from the level "
        "(a past outbreak enters the model's inputs clipped); 0 = no clipping.",
        ge=0,
    )


class ComputeConfig(_Frozen):
    regions_per_chunk: int = Field(
        default=512,
        description="Regions per chunk of every heavy stage (training, the forecaster, the detectors): a chunk is "
        "trained in one compiled TensorFlow call, bounds memory for any number of regions, and is the unit of work "
        "sent to a Dask cluster.",
        ge=1,
        le=100_000,
    )
    dask_address: str = Field(
        default="",
        description="Address of an existing Dask scheduler (e.g. tcp://10.0.0.5:8786) on which the region chunks of "
        "train, predict (the forecaster) and extract (the detectors) run, through prefect-dask; empty runs them in "
        "this process, with the same result. Workers need this project installed and PREFECT_API_URL pointing at "
        "the same Prefect server (docs/scaling.md).",
        pattern=r"^$|^(tcp|tls|inproc|ws|wss)://\S+$",
    )


class ExtractConfig(_Frozen):
    threshold_pct: float = Field(
        default=10.0,
        description="A scored day is a hotspot when |actual - predicted| / actual x 100 exceeds this.",
        ge=0,
    )


DETECTOR_NAMES: tuple[str, ...] = NAMES
"""Registry names of the detectors (tasks/detectors/registry.py), in registry order."""
DetectorName = Literal[NAMES]  # type: ignore[valid-type] - derived from the registry: one place names detectors


class FarringtonConfig(_Frozen):
    """The improved Farrington method (Noufaily et al. 2013; R surveillance::farringtonFlexible), in periods of the
    data (weeks or days). Defaults: Noufaily's improved settings; its alarm level is detect.alpha_alarm."""

    b: int = Field(default=4, description="Years of history in the baseline (R: b).", ge=1, le=20)
    w: int = Field(default=3, description="Half-width, in periods, of the window around each past year (R: w).", ge=0)
    reweight: bool = Field(default=True, description="Down-weight past outbreaks in the baseline (R: reweight).")
    weights_threshold: float = Field(
        default=2.58, description="Anscombe residuals above this are down-weighted (R: weightsThreshold).", gt=0
    )
    trend: bool = Field(default=True, description="Try a linear time trend (R: trend).")
    p_threshold_trend: float = Field(
        default=0.05,
        description="The trend is kept when its p-value is below this (R: pThresholdTrend; 1 keeps any trend that "
        "does not extrapolate).",
        gt=0,
        le=1,
    )
    no_periods: int = Field(
        default=10,
        description="Levels of the seasonal factor that lets the whole year serve as baseline (R: noPeriods; 1 = "
        "the original method's windows only).",
        ge=1,
    )
    past_periods_not_included: int = Field(
        default=26,
        description="Most recent periods left out of the baseline, so a current outbreak does not hide itself (R: "
        "pastWeeksNotIncluded).",
        ge=0,
    )
    threshold_method: Literal["nbPlugin", "muan", "delta"] = Field(
        default="nbPlugin",
        description="How the alarm threshold is computed: a negative-binomial quantile of the plug-in mean "
        "(nbPlugin), of its upper confidence bound (muan), or the original delta method on a power scale (R: "
        "thresholdMethod).",
    )
    pow_trans: Literal["2/3", "1/2", "none"] = Field(
        default="2/3", description="Power transform of the delta method (R: powertrans)."
    )
    limit_cases: float = Field(
        default=5,
        description="Small-count guard: no alarm unless the last limit_periods periods hold at least this many "
        "cases (R: limit54[1]).",
        ge=0,
    )
    limit_periods: int = Field(default=4, description="Periods of the small-count guard (R: limit54[2]).", ge=1)


class DetectConfig(_Frozen):
    """Which detector decides a hotspot, and every detector's tunables (see tasks/detectors.py).

    The study's own threshold is ``extract.threshold_pct``; the seed detector takes it from there.
    Defaults follow the literature cited on each field; ``decider`` is the detector the backtest
    (bench/backtest.py, docs/methods.md) shows best.
    """

    decider: DetectorName = Field(
        default="forecast_ewma",
        description="Detector whose verdict is the report's is_hotspot (all detectors run and are stored; the "
        "study's 10 % rule stays in study_hotspot), for daily data. Chosen by a rule fixed in advance on the "
        "backtest's design seeds; see docs/methods.md. lstm_ewma was the default before the forecaster.",
    )
    decider_weekly: DetectorName = Field(
        default="farrington",
        description="Detector whose verdict is is_hotspot for weekly data. Chosen by the weekly backtest, with the "
        "same rule as the daily choice (best mean F1 at a matched 1 % false-alarm rate on design seeds); see "
        "docs/methods.md.",
    )

    def decider_for(self, frequency: str) -> str:
        """The deciding detector for data of this frequency ("daily" or "weekly")."""
        return self.decider_weekly if frequency == "weekly" else self.decider

    # --- EARS ---------------------------------------------------------------------------
    baseline_days: int = Field(
        default=7,
        description="EARS baseline length in days (CDC EARS and R surveillance::earsC use 7); also the naive "
        "forecaster's averaging window.",
        ge=3,
        le=365,
    )
    guard_band_days: int = Field(
        default=2,
        description="Days skipped between the baseline and the scored day for EARS C2/C3, so that the first days "
        "of an outbreak do not inflate the baseline of the next days (EARS uses 2).",
        ge=0,
        le=60,
    )
    ears_min_sigma: float = Field(
        default=1.0,
        description="Floor on the EARS baseline standard deviation, in cases. A flat baseline (e.g. 7 zero days) "
        "has sd 0, which makes C undefined or flags any single case; with 1.0 an alarm after a week of zeros needs "
        "at least 4 cases (C > 3). R surveillance::earsC defaults to 0; its minSigma exists for this sparse case.",
        ge=0,
    )
    ears_c1_threshold: float = Field(default=3.0, description="C1 alarms when C1 > this (classic CDC: 3).", gt=0)
    ears_c2_threshold: float = Field(default=3.0, description="C2 alarms when C2 > this (classic CDC: 3).", gt=0)
    ears_c3_threshold: float = Field(default=2.0, description="C3 alarms when C3 > this (classic CDC: 2).", gt=0)
    # --- calibrated detectors -------------------------------------------------------------
    alpha_alarm: float = Field(
        default=0.01,
        description="p-value below which a day is an 'alarm' (ESSENCE red: p < 0.01).",
        gt=0,
        lt=1,
    )
    alpha_warning: float = Field(
        default=0.05,
        description="p-value below which a day is at least a 'warning' (ESSENCE yellow: p < 0.05).",
        gt=0,
        lt=1,
    )
    hotspot_level: Literal["alarm", "warning"] = Field(
        default="alarm",
        description="Lowest severity that counts as a hotspot. 'alarm' keeps the expected false-alarm rate of a "
        "well-calibrated detector near alpha_alarm per day; 'warning' also flags yellow days. The reported "
        "lower/upper band is the central (1 - alpha) predictive interval of this level.",
    )
    direction: Literal["both", "surge", "drop"] = Field(
        default="both",
        description="Which departures are hotspots. 'both' (default): a surge or a drop that the forecast does not "
        "explain, each side tested at alpha / 2 so the false-alarm rate stays alpha per day (the direction column "
        "says which); 'surge': an excess of cases only, as in EARS, ESSENCE and Farrington (drop alerts are still "
        "reported, not counted); 'drop': a shortfall only. EARS and Farrington look for surges by design; the "
        "study's rule (seed) is unsigned.",
    )
    sides: Literal["each", "two-sided", "surge", "drop"] | None = Field(
        default=None,
        description="Advanced, overrides what direction implies (empty: 'two-sided' for both, 'each' otherwise). "
        "'each': surges and drops tested separately, each one-sided at alpha (p_value = the smaller one-sided p); "
        "'two-sided': each side at alpha/2 (p_value = 2 x the smaller one-sided p); 'surge' or 'drop': only that "
        "side, at alpha.",
    )
    hotspot_direction: Literal["surge", "drop", "both"] | None = Field(
        default=None,
        description="The earlier name of direction, kept so that old configs still run: when set, it decides which "
        "alerts count as hotspots (empty: direction).",
    )

    @property
    def test_sides(self) -> str:
        """The sides the calibrated, EWMA and forecast detectors test: ``sides``, or what ``direction`` implies."""
        if self.sides is not None:
            return self.sides
        return "two-sided" if self.counted_direction == "both" else "each"

    @property
    def counted_direction(self) -> str:
        """Which alerts count as hotspots: ``hotspot_direction`` when set, else ``direction``."""
        return self.hotspot_direction or self.direction

    calibration_window_days: int = Field(
        default=28,
        description="Rolling past-only window (days before the scored day) whose forecast residuals estimate the "
        "bias factor and NB dispersion; 28 days is the ESSENCE baseline and tracks regime changes.",
        ge=3,
        le=730,
    )
    min_calibration_days: int = Field(
        default=7,
        description="Fewest usable past residuals needed to score a day; fewer -> not scored, with a note.",
        ge=2,
    )
    outlier_z: float = Field(
        default=2.58,
        description="Past residuals with |Pearson z| above this are left out of the calibration (Farrington / "
        "Noufaily reweighting threshold 2.58) so that past outbreaks do not widen future intervals.",
        gt=1,
    )
    trim_iterations: int = Field(
        default=3, description="Rounds of leave-out-and-re-estimate in the calibration.", ge=0, le=20
    )
    bias_correction: bool = Field(
        default=True,
        description="Rescale the forecast by sum(actual) / sum(forecast) over the kept past residuals, so a "
        "forecast that is systematically too high or low (e.g. scale carried over from the driver) is re-centred.",
    )
    mu_floor: float = Field(
        default=0.5,
        description="Smallest expected count used for the distribution. A forecast of 0 (or a negative one clipped "
        "to 0) would make any single case infinitely surprising; half a case keeps sporadic cases plausible.",
        gt=0,
    )
    guard_window_days: int = Field(
        default=7,
        description="Days (today included) whose observed cases must reach guard_min_cases before any warning or "
        "alarm (daily analogue of Farrington's limit54: 5 cases in 4 weeks).",
        ge=1,
        le=365,
    )
    guard_min_cases: float = Field(
        default=5.0, description="Cases needed in the guard window for an alert; 0 disables this guard.", ge=0
    )
    guard_min_excess: float = Field(
        default=3.0,
        description="Smallest |actual - expected| in cases that can be an alert; 0 disables this guard. Stops "
        "1-2 case wobbles at tiny counts from alerting however small their p-value.",
        ge=0,
    )
    variance_level_days: int = Field(
        default=7,
        description="The predictive variance follows max(day's forecast, its mean over this many days incl. today) "
        "rather than the day's forecast alone, so a forecast that is low by chance does not also get a too-narrow "
        "interval (false surges); 1 gives the plain NB2 variance m + phi m^2.",
        ge=1,
        le=60,
    )
    predictive_correction: bool = Field(
        default=True,
        description="Account for estimating the bias factor and dispersion from a short window: add Var/n to the "
        "predictive variance and read tail probabilities through Student's t with n - 2 degrees of freedom "
        "(n = residuals used). Without it a 28-day plug-in interval under-covers (~93 % for a nominal 95 %).",
    )
    naive_guard_days: int = Field(
        default=0,
        description="Days skipped between the naive forecaster's averaging window and the scored day.",
        ge=0,
        le=60,
    )

    ewma_lambda: float = Field(
        default=0.4,
        description="Weight of today in the EWMA detectors (naive_ewma, lstm_ewma), which smooth the calibrated "
        "detectors' signed z over recent days: E_t = lambda z_t + (1 - lambda) E_t-1. 0.4 is ESSENCE's weight for "
        "gradual events; outbreaks lasting 2-5 days raise z on several days, which a single-day test misses.",
        gt=0,
        le=1,
    )

    ewma_null: Literal["ar1", "ar1_or_empirical"] = Field(
        default="ar1",
        description="Null sd of naive_ewma and lstm_ewma: 'ar1', the AR(1)-corrected formula; 'ar1_or_empirical', "
        "the larger of that and the robust sd (1.4826 MAD) of the EWMA over the calibration window (past days only).",
    )

    # --- the driver-conditioned forecaster's detectors (tasks/forecast.py) ----------------------
    forecast_calibration_window_days: int = Field(
        default=84,
        description="calibration_window_days of forecast_calibrated and forecast_ewma: past days whose residuals "
        "give the bias factor and NB dispersion of the forecaster's predictive distribution.",
        ge=3,
        le=730,
    )
    forecast_spread: bool = Field(
        default=False,
        description="Add the ensemble members' variance (in counts) to each day's predictive variance of the "
        "forecast detectors (the dispersion is then estimated net of it).",
    )
    forecast_ewma_null: Literal["ar1", "ar1_or_empirical"] = Field(
        default="ar1_or_empirical", description="ewma_null of forecast_ewma."
    )

    farrington: FarringtonConfig = Field(
        default_factory=FarringtonConfig,
        description="The improved Farrington detector (needs b years of history in the data's own periods).",
    )

    @model_validator(mode="after")
    def _alphas_ordered(self) -> DetectConfig:
        if self.alpha_alarm >= self.alpha_warning:
            raise ValueError("alpha_alarm must be smaller than alpha_warning")
        if self.min_calibration_days > self.calibration_window_days:
            raise ValueError("min_calibration_days cannot exceed calibration_window_days")
        return self


class PipelineConfig(_Frozen):
    """Everything a run can be told; nested per stage."""

    lock_wait_s: float = Field(
        default=600,
        description="Seconds a run waits for another run on the same store to finish before failing.",
        ge=0,
    )
    series: SeriesConfig = Field(default_factory=SeriesConfig, description="Which series are target and driver.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Reading and canonicalising input.")
    validation: ValidateConfig = Field(default_factory=ValidateConfig, description="Data quality gate.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="LSTM model and optimizer.")
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig,
        description="The driver-conditioned forecaster whose forecasts the forecast_* detectors score.",
    )
    retrain: RetrainConfig = Field(default_factory=RetrainConfig, description="When a new model is trained.")
    compute: ComputeConfig = Field(
        default_factory=ComputeConfig, description="Where and in what chunks the heavy stages process regions."
    )
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="The study's hotspot rule.")
    detect: DetectConfig = Field(
        default_factory=DetectConfig, description="Hotspot detectors and which one decides is_hotspot."
    )
