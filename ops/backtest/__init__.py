"""Replay a detector over a past range through the real alert logic: `opsbot backtest`, `/backtest`."""

from ops.backtest.replay import (
    Backtest,
    BacktestError,
    Episode,
    KeyTrace,
    SeriesDetector,
    check_replayable,
    find_detector,
    run_backtest,
)

__all__ = [
    "Backtest",
    "BacktestError",
    "Episode",
    "KeyTrace",
    "SeriesDetector",
    "check_replayable",
    "find_detector",
    "run_backtest",
]
