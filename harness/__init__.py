"""harness: a benchmark harness for small image models.

Importing this package must stay cheap and torch-free: `harness predict` runs where only
onnxruntime, numpy and Pillow are installed.
"""

__version__ = "0.1.0"
