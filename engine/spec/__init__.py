"""Mapping files: YAML with line numbers, JSON Schema, typed model."""

from engine.spec.load import load_mapping_set
from engine.spec.model import MappingSet

__all__ = ["MappingSet", "load_mapping_set"]
