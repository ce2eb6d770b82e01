"""Experiment tracking: what loggers record (info), local MLflow stores, sweep parent runs."""
