"""The training child program: `python -m tunix_rt.training SPEC.json` (see docs/training.md)."""
