"""Check a parsed mapping file against the JSON Schema shipped beside this module."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite2ddb.errors import SpecError
from sqlite2ddb.spec.yamlfile import YamlDocument, format_path

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("schema.json")
MAX_REPORTED = 5


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    """Built on first use: jsonschema is imported when a mapping file is checked, not with this module."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate_document(doc: YamlDocument) -> None:
    """Raise SpecError listing schema violations, each with file:line and path."""
    from jsonschema.exceptions import best_match

    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: doc.line_of(tuple(e.absolute_path)))
    if not errors:
        return
    # one line (bad input gets one line): the first violations in file order, and how many more
    text = "; also ".join(_describe(doc, best_match([error])) for error in errors[:MAX_REPORTED])
    more = len(errors) - MAX_REPORTED
    raise SpecError(text + (f" (and {more} more)" if more > 0 else ""))


def _describe(doc: YamlDocument, error: ValidationError) -> str:
    path = tuple(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties":
        message = _unknown_key_message(error)
        unexpected = _unexpected_keys(error)
        if unexpected:
            path = (*path, unexpected[0])
    elif error.validator == "required":
        message = message.replace("is a required property", "is required")
    return f"{doc.where(path)}: {format_path(tuple(error.absolute_path))}: {message}"


def _unexpected_keys(error: ValidationError) -> list[str]:
    instance: Any = error.instance
    allowed = set(_properties(error))
    return sorted(k for k in instance if k not in allowed) if isinstance(instance, dict) else []


def _properties(error: ValidationError) -> Mapping[str, Any]:
    """The properties the failing schema declares (none for a boolean schema)."""
    return error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}


def _unknown_key_message(error: ValidationError) -> str:
    allowed = sorted(_properties(error))
    parts = []
    for key in _unexpected_keys(error):
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
        shown = key if key.isprintable() else json.dumps(key)  # a line break in a key would split the message
        parts.append(f"unknown key '{shown}'{hint}")
    return "; ".join(parts) or error.message
