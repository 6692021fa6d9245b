"""opsbot's domain: config, storage, detectors, alert engine, metrics. Never imports aiogram."""
