"""Hyper-parameter sweeps: Optuna search over ordinary runs, advanced by a durable controller."""
