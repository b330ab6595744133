"""Evaluations as records: a model's scored answers on a dataset split, with per-example rows."""
