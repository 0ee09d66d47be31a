"""netgen: compile declarative YAML network specs to PyTorch source and ONNX models."""

__version__ = "0.1.0"
