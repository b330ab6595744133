"""Hugging Face model directories read without the training stack: config.json and the
safetensors headers (hf/config.py). Below runs and training, so the API can validate a
model directory at submission and the training child can build the model from it."""
