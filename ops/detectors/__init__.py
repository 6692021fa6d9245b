"""Detectors: one module per kind, built from config by `build_detector`, run by `run_detector`."""

from ops.detectors.base import Detector, DetectorContext, build_detector, run_detector
from ops.detectors.targets import TargetPool

__all__ = ["Detector", "DetectorContext", "TargetPool", "build_detector", "run_detector"]
