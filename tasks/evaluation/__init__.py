"""Evaluation: how well detectors find labelled outbreaks. A library for the backtest flow and bench scripts,
not a pipeline stage.

- :mod:`~tasks.evaluation.simulate`: simulated driver/target pairs with outbreaks, and injection into a real series;
- :mod:`~tasks.evaluation.forecasts`: the pipeline's own forecasts of those series;
- :mod:`~tasks.evaluation.oracle`: the detector that knows the true baseline (the ceiling);
- :mod:`~tasks.evaluation.metrics`: POD, FAR, PPV, F1, delay, the matched-false-alarm comparison;
- :mod:`~tasks.evaluation.backtest`: every detector on every scenario and seed;
- :mod:`~tasks.evaluation.tables`: markdown tables and the comparison chart.
"""
