"""SLOs: SLIs over rolling windows, error budgets, multiwindow multi-burn-rate alerts, the weekly report."""
