"""The configuration file (JSON) and the environment variables that override it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite2ddb.errors import UsageError

if TYPE_CHECKING:
    import jsonschema

DEFAULT_CONFIG = "config/migration.json"
STATE_ROOT = "state"
LOG_ROOT = "logs"
#: What ``init`` wrote as the state file before each configuration had a folder of its own.
#: A configuration that still names it shares nothing on purpose: it is treated as the default.
LEGACY_STATE_FILE = "state/migration_state.json"
ENV_OVERRIDES = {
    "MIGRATION_SOURCE_DB": ("source_db", str),
    "AWS_DEFAULT_REGION": ("aws_region", str),
    "MIGRATION_BATCH_SIZE": ("batch_size", int),
    "MIGRATION_TABLE_PREFIX": ("table_prefix", str),
}


_TEXT = {"type": "string", "minLength": 1}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_SECONDS = {"type": "number", "exclusiveMinimum": 0}
#: What a configuration file may hold: one place, checked when a configuration is loaded or written.
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["source_db"],
    "additionalProperties": False,
    "properties": {
        "source_db": _TEXT,
        "mappings": _TEXT,
        "aws_region": {"type": "string", "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 25},
        "table_prefix": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]*$", "maxLength": 200},
        "target": {"enum": ["local", "endpoint", "aws"]},
        "endpoint_url": {"type": ["string", "null"], "pattern": r"^https?://"},
        "profile": _OPTIONAL_TEXT,
        "dynamodb_tables": {"type": "object", "additionalProperties": {"type": "string"}},
        "offload": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["bucket"],
            "properties": {
                "bucket": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                "prefix": {"type": "string", "pattern": r"^[^/].*$|^$"},
            },
        },
        "migration_settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_retries": {"type": "integer", "minimum": 0, "maximum": 100},
                "retry_delay": {"type": "number", "minimum": 0},
                "timeout": _SECONDS,
                "enable_validation": {"type": "boolean"},
                "create_tables": {"type": "boolean"},
                "delete_existing_tables": {"type": "boolean"},
                "workers": {"type": "integer", "minimum": 1, "maximum": 256},
                "parallel_tables": {"type": "integer", "minimum": 1, "maximum": 256},
                "max_wcu": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "warm_throughput": {"type": ["integer", "null"], "minimum": 1},
                "warm_read_throughput": {"type": ["integer", "null"], "minimum": 1},
                "on_error": {"enum": ["stop", "skip"]},
                "max_errors": {"type": "integer", "minimum": 0},
                "busy_timeout": {"type": "number", "minimum": 0},
                "commit_interval_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
                "consumed_capacity": {"enum": ["aws", "always", "never"]},
                "state_file": _OPTIONAL_TEXT,
            },
        },
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "level": {"type": "string", "pattern": "(?i)^(trace|debug|info|success|warning|error|critical)$"},
                "file": _OPTIONAL_TEXT,
                "max_size": {"type": "string", "pattern": r"(?i)^\s*[0-9]+(\.[0-9]+)?\s*(b|kb|mb|gb|kib|mib|gib)\s*$"},
                "backup_count": {"type": "integer", "minimum": 0},
            },
        },
    },
}
_EXPECTED = {
    "aws_region": "an AWS region name such as us-east-1",
    "table_prefix": "letters, digits, '_', '.' or '-' (DynamoDB table name characters)",
    "endpoint_url": "an http:// or https:// URL",
    "level": "a log level (DEBUG, INFO, WARNING, ERROR...)",
    "max_size": "a size such as '10 MB'",
    "bucket": "an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')",
    "prefix": "a key prefix that does not start with '/'",
}


def check_config_data(data: Any, file: str | os.PathLike[str]) -> None:
    """Raise UsageError naming the file, the key, what it holds and what is expected (the first fault)."""
    import jsonschema  # here, not with the module: ``cli.py --help`` reads no configuration

    validator = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    error = min(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)), default=None)
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = _key_text([*path, unknown[0]])
        raise UsageError(f"{file}: unknown key '{where}' (allowed here: {', '.join(allowed)})")
    if error.validator == "required":
        raise UsageError(f"{file}: not a migration configuration (no source_db)")
    key = _key_text(path) or "(document)"
    raise UsageError(f"{file}: {key}: found {_shown(error.instance)}, expected {_expected(error, path)}")


def _key_text(path: list[str]) -> str:
    """``migration_settings.timeout``; a key with a control character is quoted, so the message stays one line."""
    return ".".join(part if part.isprintable() else json.dumps(part) for part in path)


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    text = json.dumps(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return "null" if value is None else f"{text} ({kind.get(type(value), type(value).__name__)})"


def _expected(error: jsonschema.ValidationError, path: list[str]) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}  # a boolean schema expects nothing nameable
    if path and path[-1] in _EXPECTED and error.validator != "type":
        return _EXPECTED[path[-1]]
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kinds = schema.get("type", "value")
    text = " or ".join(_WORDS.get(k, k) for k in ([kinds] if isinstance(kinds, str) else kinds))
    if schema.get("minLength"):
        text = "non-empty text"
    limits = [f"{word} {schema[k]}" for k, word in _LIMITS if k in schema]
    return text + (" " + " and ".join(limits) if limits else "")


_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "an object",
    "null": "null",
}
_LIMITS = (("minimum", "at least"), ("exclusiveMinimum", "above"), ("maximum", "at most"))


@dataclass(frozen=True)
class MigrationSettings:
    max_retries: int = 8
    """Attempts after the first for a throttled or failed request before the run stops."""
    retry_delay: float = 0.1
    """Base delay in seconds of the exponential backoff (full jitter)."""
    timeout: float = 30.0
    """Connect and read timeout of each DynamoDB request, in seconds."""
    enable_validation: bool = True
    """Run validate at the end of migrate."""
    create_tables: bool = True
    """Create missing tables (and wait until they are ACTIVE)."""
    delete_existing_tables: bool = False
    """Drop and recreate the tables before migrating (only with migrate --force)."""
    workers: int = 4
    """Writer threads sending BatchWriteItem requests, per table being written (per cursor range, when a
    large item type is written as several: their windows of unacknowledged batches share one budget)."""
    parallel_tables: int = 2
    """How many tables are written at the same time (item types of one table run in order)."""
    max_wcu: float | None = None
    """Cap on write capacity units per second (None: no cap)."""
    warm_throughput: int | None = None
    """Warm throughput in write units per second to raise each table to before the load (None: left as it is)."""
    warm_read_throughput: int | None = None
    """Warm throughput in read units per second, likewise (None: left as it is)."""
    on_error: str = "stop"
    """What a bad source row does: stop at it, or skip it into the rejects file."""
    max_errors: int = 100
    """With on_error=skip, how many rejected rows stop the run anyway."""
    busy_timeout: float = 10.0
    """Seconds to wait for another process's write lock on the source database."""
    commit_interval_ms: int = 250
    """How often acknowledged batches are made durable (fingerprints, then the checkpoint file); a window
    of unacknowledged batches that fills commits at once, so a crash rewrites no more than the window."""
    consumed_capacity: str = "aws"
    """Ask DynamoDB for the write units each batch consumed (the report sets them beside the plan's
    estimate): ``aws`` (the default) asks AWS only (also through an amazonaws.com URL); ``always``
    any endpoint too; ``never``. DynamoDB Local spends about a third more CPU on each write to answer
    it, and its figure is its own arithmetic, not a bill, so by default a local load is not slowed."""
    state_file: str | None = None
    """Checkpoints, counters, the lock, rejects and the embedded DynamoDB Local's data live beside
    this file. None (the default): ``state/<configuration name>/migration_state.json``, so that two
    configuration files never share state unless both name the same file here."""


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    file: str | None = None
    """None (the default): ``logs/<configuration name>.log``."""
    max_size: str = "10 MB"
    backup_count: int = 5


@dataclass(frozen=True)
class Config:
    source_db: str
    mappings: str = "mappings/chinook"
    aws_region: str = "us-east-1"
    batch_size: int = 25
    table_prefix: str = "chinook_"
    target: str = "local"  # local | endpoint | aws
    endpoint_url: str | None = None
    profile: str | None = None
    dynamodb_tables: dict[str, str] = field(default_factory=dict)
    offload: dict[str, str] | None = None
    """Where attributes with an ``offload`` rule keep their values: ``{"bucket": ..., "prefix": ...}``."""
    migration_settings: MigrationSettings = field(default_factory=MigrationSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    path: str = DEFAULT_CONFIG

    @property
    def name(self) -> str:
        """The configuration's name, from its file: the folder of its state and its log file."""
        return config_name(self.path)

    @property
    def state_path(self) -> Path:
        """The state file: the one the settings name, or the configuration's own."""
        explicit = self.migration_settings.state_file
        return Path(explicit) if explicit else Path(STATE_ROOT) / self.name / "migration_state.json"

    @property
    def state_dir(self) -> Path:
        return self.state_path.parent

    @property
    def shares_state_on_purpose(self) -> bool:
        """True when the settings name a state file, so another configuration may name it too."""
        return self.migration_settings.state_file not in (None, LEGACY_STATE_FILE)

    @property
    def log_path(self) -> Path:
        return Path(self.logging.file) if self.logging.file else Path(LOG_ROOT) / f"{self.name}.log"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        if data["offload"] is None:
            data.pop("offload")  # most configurations keep nothing in S3: no key for it
        return data

    def validate(self) -> Config:
        check_config_data(self.to_json(), self.path)
        if not 1 <= self.batch_size <= 25:
            raise UsageError(f"{self.path}: batch_size must be between 1 and 25, not {self.batch_size}")
        if self.target not in ("local", "endpoint", "aws"):
            raise UsageError(f"{self.path}: target must be local, endpoint or aws, not {self.target!r}")
        if self.target == "endpoint" and not self.endpoint_url:
            raise UsageError(f"{self.path}: target 'endpoint' needs endpoint_url")
        settings = self.migration_settings
        if settings.on_error not in ("stop", "skip"):
            raise UsageError(f"{self.path}: migration_settings.on_error must be stop or skip")
        if settings.workers < 1:
            raise UsageError(f"{self.path}: migration_settings.workers must be at least 1")
        return self


def config_name(path: str | os.PathLike[str]) -> str:
    """``config/migration.json`` -> ``migration``; ``config/prod/eu.json`` -> ``prod-eu``.

    The path is taken relative to the working folder when it lies below it (absolute
    otherwise), a leading ``config`` folder is dropped, and the parts are joined with
    ``-``: two configuration files get two names.
    """
    file = Path(path).absolute()
    try:
        parts = list(file.relative_to(Path.cwd()).parts)
    except ValueError:
        parts = [p for p in file.parts if p not in ("/", "\\")]
    if len(parts) > 1 and parts[0] == "config":
        parts = parts[1:]
    parts[-1] = Path(parts[-1]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("._-") or "default"


def load_config(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> Config:
    """Read the JSON file, then apply MIGRATION_* and AWS_DEFAULT_REGION overrides."""
    file = Path(path)
    env = dict(os.environ) if env is None else env
    if not file.exists():
        raise UsageError(f"configuration file {file} not found", "run 'init --source-db PATH' first")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except RecursionError:
        raise UsageError(f"{file}: invalid JSON: nested too deeply") from None
    except OSError as exc:
        raise UsageError(f"{file}: cannot read configuration file: {exc.strerror}") from None
    if not isinstance(data, dict) or "source_db" not in data:
        raise UsageError(f"{file}: not a migration configuration (no source_db)")
    for variable, (key, kind) in ENV_OVERRIDES.items():
        if env.get(variable):
            try:
                data[key] = kind(env[variable])
            except ValueError:
                raise UsageError(f"{variable}={env[variable]!r} is not a valid {kind.__name__}") from None
    check_config_data(data, file)
    try:
        settings = MigrationSettings(**data.pop("migration_settings", {}))
        logging = LoggingSettings(**data.pop("logging", {}))
        config = Config(**data, migration_settings=settings, logging=logging, path=str(file))
    except TypeError as exc:
        raise UsageError(f"{file}: {exc}") from None
    return config.validate()


def save_config(config: Config) -> Path:
    file = Path(config.path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(config.to_json(), indent=2) + "\n", encoding="utf-8")
    return file


def with_settings(config: Config, **changes: Any) -> Config:
    """A copy with migration_settings fields changed (command-line overrides)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(config, migration_settings=replace(config.migration_settings, **changes))
