"""ONNX export of a trial, INT8, verification against PyTorch, the cross-runtime matrix and the model card."""
