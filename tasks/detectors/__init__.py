"""Hotspot detectors: one registry, one interface, one output schema; pure numpy/pandas/scipy.

- :mod:`tasks.detectors.registry`: the table of detectors (names, needs, score meaning, code);
- :mod:`tasks.detectors.schema`: the input (:class:`~tasks.detectors.schema.Series`), the output columns,
  the settings (:class:`~tasks.detectors.schema.DetectorConfig`);
- :mod:`tasks.detectors.run`: :func:`~tasks.detectors.run.run_detectors`, the one way to run them;
- one module per family: :mod:`~tasks.detectors.seed` (the study's rule), :mod:`~tasks.detectors.ears`,
  :mod:`~tasks.detectors.counts` (calibrated count models), :mod:`~tasks.detectors.ewma`.

This file imports nothing, so reading the registry (the config does) loads no detector code.
"""
