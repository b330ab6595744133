"""tunix-rt: reasoning traces to trained models."""

__version__ = "0.1.0"
