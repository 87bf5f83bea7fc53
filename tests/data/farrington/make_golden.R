# Golden fixtures for the Python port in tasks/detectors/farrington.py (tests/unit/test_farrington.py).
#
# Run:   Rscript make_golden.R        (from this folder; writes golden.json
#                                      and sessionInfo.txt)
# Needs: R with the 'surveillance' and 'jsonlite' packages
#        (Debian: apt-get install r-cran-surveillance).
#
# Every case records the input series, the full control list handed to
# surveillance::farringtonFlexible, and what R returned for each monitored
# time point: upperbound(), control$expected, alarms(), control$score,
# control$pvalue, control$phiVector, control$trend, control$trendVector,
# control$mu0Vector.  R is a fixture generator only: the Python tests read
# the JSON and never call R.

suppressPackageStartupMessages({
  library(surveillance)
  library(jsonlite)
})

# writes next to this script
cases <- list()

# All control entries the port understands, written out explicitly in every
# case so that the fixture does not depend on R's defaults.
full_control <- function(...) {
  ctl <- list(b = 5, w = 3, reweight = TRUE, weightsThreshold = 2.58,
              alpha = 0.05, trend = TRUE, pThresholdTrend = 0.05,
              limit54 = c(5, 4), powertrans = "2/3", noPeriods = 1,
              pastWeeksNotIncluded = NULL, thresholdMethod = "delta",
              glmWarnings = FALSE)
  modifyList(ctl, list(...), keep.null = TRUE)
}
# Later arguments override the preset values (modifyList, not a second
# argument of the same name).
original <- function(...) modifyList(
  full_control(b = 5, w = 3, weightsThreshold = 1, noPeriods = 1,
               pastWeeksNotIncluded = 3, thresholdMethod = "delta",
               powertrans = "2/3", trend = TRUE),
  list(...), keep.null = TRUE)
improved <- function(method, ...) modifyList(
  full_control(b = 4, w = 3, weightsThreshold = 2.58, noPeriods = 10,
               pastWeeksNotIncluded = 26, thresholdMethod = method,
               trend = TRUE),
  list(...), keep.null = TRUE)

run_case <- function(name, description, x, control) {
  res <- farringtonFlexible(x, control = control)
  rng <- if (is.null(control$range)) {
    (x@freq * control$b + control$w + 1):nrow(observed(x))
  } else control$range
  obs <- as.vector(observed(x)[, 1])
  dates <- if (x@epochAsDate) format(as.Date(epoch(x), origin = "1970-01-01")) else NULL
  ctl <- control
  ctl$range <- NULL
  if (is.null(ctl$pastWeeksNotIncluded)) ctl$pastWeeksNotIncluded <- ctl$w
  cases[[length(cases) + 1]] <<- list(
    name = name,
    description = description,
    freq = x@freq,
    epochAsDate = x@epochAsDate,
    dates = dates,
    observed = obs,
    control = ctl,
    range = rng,
    result = list(
      upperbound = as.vector(upperbound(res)[, 1]),
      expected = as.vector(res@control$expected[, 1]),
      alarm = as.vector(alarms(res)[, 1]),
      score = as.vector(res@control$score[, 1]),
      pvalue = as.vector(res@control$pvalue[, 1]),
      phi = as.vector(res@control$phiVector[, 1]),
      trend = as.vector(res@control$trend[, 1]),
      trendVector = as.vector(res@control$trendVector[, 1]),
      mu0Vector = as.vector(res@control$mu0Vector[, 1])
    )
  )
  cat(sprintf("%-32s %4d points, %3d alarms, %3d NA upperbounds\n", name,
              length(rng), sum(alarms(res), na.rm = TRUE),
              sum(is.na(upperbound(res)))))
}

# Same, but one call per time point, so that a point where R stops with an
# error (e.g. a reference week missing from the time axis) is recorded as
# r_error = TRUE (results NA) instead of aborting the whole case.
run_case_pointwise <- function(name, description, x, control) {
  rng <- control$range
  out <- NULL
  err <- logical(length(rng))
  fields <- c("upperbound", "expected", "alarm", "score", "pvalue", "phi", "trend", "trendVector", "mu0Vector")
  vals <- setNames(lapply(fields, function(f) rep(NA_real_, length(rng))), fields)
  for (i in seq_along(rng)) {
    ctl <- control
    ctl$range <- rng[i]
    res <- try(farringtonFlexible(x, control = ctl), silent = TRUE)
    if (inherits(res, "try-error")) { err[i] <- TRUE; next }
    vals$upperbound[i] <- upperbound(res)[1, 1]
    vals$expected[i] <- res@control$expected[1, 1]
    vals$alarm[i] <- alarms(res)[1, 1]
    vals$score[i] <- res@control$score[1, 1]
    vals$pvalue[i] <- res@control$pvalue[1, 1]
    vals$phi[i] <- res@control$phiVector[1, 1]
    vals$trend[i] <- res@control$trend[1, 1]
    vals$trendVector[i] <- res@control$trendVector[1, 1]
    vals$mu0Vector[i] <- res@control$mu0Vector[1, 1]
  }
  vals$alarm <- as.logical(vals$alarm)
  ctl <- control
  ctl$range <- NULL
  if (is.null(ctl$pastWeeksNotIncluded)) ctl$pastWeeksNotIncluded <- ctl$w
  cases[[length(cases) + 1]] <<- list(
    name = name, description = description, freq = x@freq, epochAsDate = x@epochAsDate,
    dates = if (x@epochAsDate) format(as.Date(epoch(x), origin = "1970-01-01")) else NULL,
    observed = as.vector(observed(x)[, 1]), control = ctl, range = rng,
    result = c(vals, list(r_error = err)))
  cat(sprintf("%-32s %4d points, %3d alarms, %3d R errors (pointwise)\n", name, length(rng),
              sum(vals$alarm, na.rm = TRUE), sum(err)))
}

weekly_sts <- function(y, dates) sts(observed = y, epoch = as.numeric(dates),
                                     epochAsDate = TRUE, freq = 52)

# ---------------------------------------------------------------------------
# 1. Real data: Salmonella Newport, Germany, weekly 2004-2014 (surveillance's
#    salmNewport, summed over the 16 federal states), dates as epochs.
# ---------------------------------------------------------------------------
data("salmNewport")
newport <- aggregate(salmNewport, by = "unit")
n_nw <- nrow(observed(newport))
last2y <- (n_nw - 103):n_nw

run_case("newport_original", "salmNewport (all states), original Farrington settings, last 104 weeks",
         newport, c(original(), list(range = last2y)))
run_case("newport_improved_nbPlugin", "salmNewport, Noufaily settings, nbPlugin threshold, last 104 weeks",
         newport, c(improved("nbPlugin"), list(range = last2y)))
run_case("newport_improved_muan", "salmNewport, Noufaily settings, muan threshold, last 104 weeks",
         newport, c(improved("muan"), list(range = last2y)))
run_case("newport_improved_nbPlugin_ptrend1", "salmNewport, Noufaily settings with pThresholdTrend = 1 (as advised in ?farringtonFlexible), nbPlugin",
         newport, c(improved("nbPlugin", pThresholdTrend = 1), list(range = last2y)))
run_case("newport_delta_sqrt", "salmNewport, original settings with powertrans 1/2",
         newport, c(original(powertrans = "1/2"), list(range = last2y)))
run_case("newport_delta_none", "salmNewport, original settings with powertrans none",
         newport, c(original(powertrans = "none"), list(range = last2y)))
run_case("newport_noreweight_notrend", "salmNewport, improved muan without reweighting and without trend, alpha 0.01",
         newport, c(improved("muan", reweight = FALSE, trend = FALSE, alpha = 0.01), list(range = last2y)))
run_case("newport_improved_delta_limit0", "salmNewport, Noufaily windows with delta threshold, limit54 = c(0, 4), pastWeeksNotIncluded default (NULL = w)",
         newport, c(full_control(b = 3, w = 2, noPeriods = 6, thresholdMethod = "delta", limit54 = c(0, 4)),
                    list(range = last2y)))

# ---------------------------------------------------------------------------
# 2. Real data without dates: salmonella.agona (disProg, weekly 1990-1995),
#    converted to sts; reference weeks are then k - 52 * j.
# ---------------------------------------------------------------------------
data("salmonella.agona")
agona <- disProg2sts(salmonella.agona)
run_case("agona_original_default_range", "salmonella.agona (no dates), original settings, R's default range",
         agona, original())
run_case("agona_improved_nbPlugin", "salmonella.agona (no dates), Noufaily settings nbPlugin, b = 4",
         agona, improved("nbPlugin"))
# The two control lists of the farringtonFlexible help page example.
run_case("agona_rd_example_control1", "salmonella.agona, ?farringtonFlexible example control1 (b = 4, alpha = 0.1)",
         agona, c(original(b = 4, alpha = 0.1), list(range = 282:312)))
run_case("agona_rd_example_control2", "salmonella.agona, ?farringtonFlexible example control2 (noPeriods = 10, pThresholdTrend = 1, delta, alpha = 0.1)",
         agona, c(improved("delta", pThresholdTrend = 1, alpha = 0.1), list(range = 282:312)))

# ---------------------------------------------------------------------------
# 3. Missing values: Newport with NAs in reference windows and near the
#    monitored weeks (inside the limit54 window).
# ---------------------------------------------------------------------------
obs_na <- observed(newport)
na_idx <- c(300:303, 350, 372, 402, 424:426, 460, 470, 480, 481, 500, 512)
obs_na[na_idx, 1] <- NA
newport_na <- sts(observed = obs_na, epoch = epoch(newport), epochAsDate = TRUE, freq = 52)
run_case("newport_na_original", "salmNewport with NAs injected, original settings",
         newport_na, c(original(), list(range = last2y)))
run_case("newport_na_improved_nbPlugin", "salmNewport with NAs injected, Noufaily settings nbPlugin",
         newport_na, c(improved("nbPlugin"), list(range = last2y)))

# 3b. Irregular time axis: two weeks missing from the epoch vector itself (not
#     NA counts).  Windows are positions in the series, reference weeks and
#     the trend's time are calendar based.
keep_rows <- setdiff(seq_len(n_nw), c(330, 420))
newport_gap <- sts(observed = observed(newport)[keep_rows, , drop = FALSE],
                   epoch = epoch(newport)[keep_rows], epochAsDate = TRUE, freq = 52)
n_gap <- length(keep_rows)
run_case_pointwise("newport_gap_original", "salmNewport with weeks 330 and 420 removed from the time axis, original settings",
         newport_gap, c(original(), list(range = (n_gap - 103):n_gap)))
run_case_pointwise("newport_gap_improved_muan", "salmNewport with two weeks removed from the time axis, Noufaily muan",
         newport_gap, c(improved("muan"), list(range = (n_gap - 103):n_gap)))

# ---------------------------------------------------------------------------
# 4. Simulated weekly series.
# ---------------------------------------------------------------------------
set.seed(20130601)
wk_dates <- seq(as.Date("2011-01-03"), by = "week", length.out = 7 * 52 + 10)
tt <- seq_along(wk_dates)

# 4a. Low counts: mean well below 1 per week with a few small outbreaks.
mu_low <- 0.35 * exp(0.6 * sin(2 * pi * tt / 52))
y_low <- rpois(length(tt), mu_low)
y_low[c(300, 301, 340, 341, 342, 362)] <- y_low[c(300, 301, 340, 341, 342, 362)] + c(3, 4, 2, 5, 3, 6)
low <- weekly_sts(y_low, wk_dates)
rng_sim <- (length(tt) - 103):length(tt)
run_case("sim_low_original", "simulated Poisson, mean ~0.4/week, original settings",
         low, c(original(), list(range = rng_sim)))
run_case("sim_low_improved_muan", "simulated Poisson, mean ~0.4/week, Noufaily muan",
         low, c(improved("muan"), list(range = rng_sim)))

# 4b. Rare disease: almost always zero, so many reference sets are all zero;
#     a few bursts make limit54 pass.
y_rare <- rpois(length(tt), 0.02)
y_rare[c(290, 320, 321, 355, 356, 357)] <- c(6, 2, 4, 1, 5, 2)
rare <- weekly_sts(y_rare, wk_dates)
run_case("sim_rare_original", "simulated rare counts (mean 0.02) with bursts, original settings",
         rare, c(original(), list(range = rng_sim)))
run_case("sim_rare_improved_nbPlugin", "simulated rare counts with bursts, Noufaily nbPlugin",
         rare, c(improved("nbPlugin"), list(range = rng_sim)))

# 4c. High counts (> 100 per week) with an upward trend and overdispersion,
#     outbreaks added.
mu_high <- exp(log(120) + 0.004 * tt + 0.35 * sin(2 * pi * tt / 52) + 0.1 * cos(2 * pi * tt / 26))
y_high <- rnbinom(length(tt), mu = mu_high, size = 25)
y_high[c(330, 331, 360)] <- round(y_high[c(330, 331, 360)] * c(1.6, 1.9, 1.7))
high <- weekly_sts(y_high, wk_dates)
run_case("sim_high_trend_original_default_range", "simulated NB (size 25), >100/week, trend 0.004/week, original settings, default range",
         high, original())
run_case("sim_high_trend_improved_nbPlugin", "simulated NB >100/week with trend, Noufaily nbPlugin",
         high, c(improved("nbPlugin"), list(range = rng_sim)))
run_case("sim_high_trend_improved_muan_b3", "simulated NB >100/week with trend, Noufaily muan, b = 3",
         high, c(improved("muan", b = 3), list(range = rng_sim)))

# ---------------------------------------------------------------------------
# 5. Daily data (freq = 365).  With dates, the reference days are the same
#    calendar day 1..b years back (29 February maps to 1 March), b is in years
#    and w, pastWeeksNotIncluded and limit54[2] are in days.
# ---------------------------------------------------------------------------
d_dates <- seq(as.Date("2012-01-01"), as.Date("2016-12-31"), by = "day")
dd <- seq_along(d_dates)
dow <- c(1.25, 1.1, 1.0, 1.0, 0.95, 0.5, 0.4)[as.POSIXlt(d_dates)$wday + 1]
mu_day <- 6 * dow * exp(0.4 * sin(2 * pi * dd / 365.25))
y_day <- rnbinom(length(dd), mu = mu_day, size = 10)
y_day[c(1700, 1701, 1702, 1790)] <- y_day[c(1700, 1701, 1702, 1790)] + c(15, 22, 18, 25)
daily <- sts(observed = y_day, epoch = as.numeric(d_dates), epochAsDate = TRUE, freq = 365)
d_rng <- which(d_dates >= as.Date("2015-12-01"))
run_case("daily_original_b3", "simulated daily NB with weekday effect, dates, original-style windows, b = 3, w = 3",
         daily, c(original(b = 3), list(range = d_rng)))
run_case("daily_improved_nbPlugin_b3", "simulated daily, dates, noPeriods = 10, b = 3, w = 3, pastWeeksNotIncluded = 26 (days)",
         daily, c(improved("nbPlugin", b = 3), list(range = d_rng)))
daily_idx <- sts(observed = y_day, freq = 365)
run_case("daily_nodates_original_b2", "same daily counts without dates (reference days k - 365 j), b = 2",
         daily_idx, c(original(b = 2), list(range = tail(dd, 200))))


# 5b. Daily counts that stay zero for years: with ~1000 all-zero reference
#     values glm.fit needs more than 25 iterations (the fitted mean shrinks by
#     a factor e per iteration), so R gives up with and without trend and
#     returns NA for those days.  A few cases at the end give non-zero fits.
y_zero <- integer(length(dd))
y_zero[c(1780, 1790, 1795, 1800, 1801, 1802)] <- c(1, 2, 1, 3, 4, 2)
zero_daily <- sts(observed = y_zero, epoch = as.numeric(d_dates), epochAsDate = TRUE, freq = 365)
run_case("daily_zero_noconvergence", "daily series of zeros with a late burst, Noufaily nbPlugin, b = 3: glm does not converge on all-zero reference sets",
         zero_daily, c(improved("nbPlugin", b = 3), list(range = tail(dd, 60))))

# ---------------------------------------------------------------------------
# 6. Monthly data with dates (freq = 12): reference months are the same
#    calendar month b years back.
# ---------------------------------------------------------------------------
m_dates <- seq(as.Date("2005-01-01"), by = "month", length.out = 12 * 12)
mm <- seq_along(m_dates)
y_month <- rnbinom(length(mm), mu = 40 * exp(0.5 * sin(2 * pi * mm / 12) + 0.002 * mm), size = 15)
monthly <- sts(observed = y_month, epoch = as.numeric(m_dates), epochAsDate = TRUE, freq = 12)
run_case("monthly_original", "simulated monthly NB, dates, original settings (w = 3 months)",
         monthly, original())
run_case("monthly_w1_noPeriods3_muan", "simulated monthly NB, w = 1, noPeriods = 3, pastWeeksNotIncluded = 1, muan",
         monthly, full_control(b = 5, w = 1, noPeriods = 3, pastWeeksNotIncluded = 1, thresholdMethod = "muan"))
# ---------------------------------------------------------------------------
cat(toJSON(list(surveillance = as.character(packageVersion("surveillance")),
                R = R.version.string, cases = cases),
           auto_unbox = TRUE, digits = NA, na = "null", null = "null"),
    file = "golden.json")
si <- capture.output(sessionInfo())
writeLines(si, "sessionInfo.txt")
print(sessionInfo())
