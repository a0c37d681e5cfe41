"""Mapping files: YAML with line numbers, JSON Schema, typed model."""

from sqlite2ddb.spec.load import load_mapping_set
from sqlite2ddb.spec.model import MappingSet

__all__ = ["MappingSet", "load_mapping_set"]
