"""The YAML config file: models, loading, and errors that name the file, detector and field."""

from ops.config.loader import ConfigError, load_config, parse_config
from ops.config.models import (
    Condition,
    DbSizeDetector,
    DetectorConfig,
    FreshnessDetector,
    OpsConfig,
    SqlDetector,
)

__all__ = [
    "Condition",
    "ConfigError",
    "DbSizeDetector",
    "DetectorConfig",
    "FreshnessDetector",
    "OpsConfig",
    "SqlDetector",
    "load_config",
    "parse_config",
]
