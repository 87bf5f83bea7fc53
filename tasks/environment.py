"""The one place that sets process-wide environment defaults.

Each is a default (``setdefault``), so an operator can still override it from the shell.
They must be in place before TensorFlow is imported or Prefect starts a server, which is
why both packages call :func:`configure_environment` when they are imported.
"""

from __future__ import annotations

import os

DEFAULTS: dict[str, str] = {
    # Offline machines: Prefect's server otherwise logs a telemetry error on every start.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The CLI's temporary server may boot slowly on a loaded 2-core machine (Prefect's default is 20 s);
    # a slow start is better than a failed run.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # Only these two together silence TensorFlow's start-up banner; oneDNN off also makes
    # results reproducible to the last digit across machines (see docs/operations.md, Reproducibility).
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    # Keras must use TensorFlow; a stray KERAS_BACKEND in the shell would break model loading.
    "KERAS_BACKEND": "tensorflow",
    "GX_ANALYTICS_ENABLED": "False",
    # Matplotlib must never try to open a window on a server.
    "MPLBACKEND": "Agg",
}


def configure_environment() -> None:
    """Apply :data:`DEFAULTS` without overriding values already set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
