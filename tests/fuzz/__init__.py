"""Fuzzing: random valid Inception-style specs held to the PyTorch module and the ONNX model netgen
generates from them, and mutated specs that must be refused with located diagnostics, never a crash.

The tests run the bounded profiles below (derandomized, so a run is repeatable). A long
campaign explores further with fresh seeds:

    python -m tests.fuzz.campaign --examples 100000 [--seed N]
"""

from hypothesis import HealthCheck, settings

_BOUNDED = {"deadline": None, "database": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow]}

settings.register_profile("fuzz-valid", max_examples=25, **_BOUNDED)
settings.register_profile("fuzz-invalid", max_examples=200, **_BOUNDED)
settings.register_profile("fuzz-cli", max_examples=3, **_BOUNDED)
settings.register_profile("fuzz-inference", max_examples=12, **_BOUNDED)

VALID_SETTINGS = settings.get_profile("fuzz-valid")
INVALID_SETTINGS = settings.get_profile("fuzz-invalid")
CLI_SETTINGS = settings.get_profile("fuzz-cli")
INFERENCE_SETTINGS = settings.get_profile("fuzz-inference")
