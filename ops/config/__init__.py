"""The YAML config file: models, loading, and errors that name the file, detector and field.

Detector and remediation kinds register themselves (`ops.config.kinds`); the config takes every kind
registered when it is loaded."""

from ops.config.fields import Condition
from ops.config.kinds import DetectorBase, RemediationBase, detector_kinds, remediation_kinds
from ops.config.loader import ConfigError, load_config, parse_config
from ops.config.models import OpsConfig

__all__ = [
    "Condition",
    "ConfigError",
    "DetectorBase",
    "OpsConfig",
    "RemediationBase",
    "detector_kinds",
    "load_config",
    "parse_config",
    "remediation_kinds",
]
