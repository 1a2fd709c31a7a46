"""Configuration: one YAML loader with positioned errors, shared field types, secrets."""

from __future__ import annotations

from harness.base.loader import (
    ConfigErrors,
    FieldPath,
    HarnessLoader,
    PositionIndex,
    error_at,
    format_field_path,
    load_model,
    load_yaml,
    parse_yaml,
    validate_model,
)
from harness.base.schema import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    Port,
    SecretStr,
    StrictModel,
    parse_duration,
)
from harness.base.secrets import Secret

__all__ = [
    "ConfigErrors",
    "Duration",
    "FieldError",
    "FieldPath",
    "HarnessLoader",
    "Identifier",
    "NonEmptyStr",
    "Port",
    "PositionIndex",
    "Secret",
    "SecretStr",
    "StrictModel",
    "error_at",
    "format_field_path",
    "load_model",
    "load_yaml",
    "parse_duration",
    "parse_yaml",
    "validate_model",
]
