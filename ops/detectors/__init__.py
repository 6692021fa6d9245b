"""Detectors: one module per kind (its config model and its `Check`), built by `build_detector`, run by
`run_detector`. Importing this package registers the built-in kinds, in the order check-config lists them."""

# isort: off
from ops.detectors import sql, freshness, db_size, http_check, heartbeat, metrics_scrape, prometheus, python_fn
from ops.detectors import anomaly, forecast

# isort: on
from ops.detectors.base import Check, Detector, DetectorContext, build_detector, run_detector
from ops.detectors.targets import TargetPool

__all__ = [
    "Check",
    "Detector",
    "DetectorContext",
    "TargetPool",
    "anomaly",
    "build_detector",
    "db_size",
    "forecast",
    "freshness",
    "heartbeat",
    "http_check",
    "metrics_scrape",
    "prometheus",
    "python_fn",
    "run_detector",
    "sql",
]
