"""Logging with loguru: a rotating file as the config says, and the terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

from sqlite2ddb.config import LoggingSettings

TERMINAL_FORMAT = "<level>{level: <7}</level> {message}"


def setup_logging(
    settings: LoggingSettings | None, verbose: bool = False, quiet_terminal: bool = False, file: Path | None = None
) -> None:
    """DEBUG everywhere with --verbose; otherwise the file (``file``, else the settings') gets the configured level."""
    logger.remove()
    terminal_level = "DEBUG" if verbose else ("WARNING" if quiet_terminal or sys.stderr.isatty() else "INFO")
    logger.add(sys.stderr, level=terminal_level, format=TERMINAL_FORMAT, colorize=None, backtrace=False, diagnose=False)
    if settings is None:
        return
    path = file or Path(settings.file or "logs/migration.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            path,
            level="DEBUG" if verbose else settings.level.upper(),
            rotation=settings.max_size,
            retention=settings.backup_count,
            encoding="utf-8",
            enqueue=False,
            backtrace=False,
            diagnose=False,
        )
    except (OSError, ValueError) as exc:
        logger.warning("cannot log to {}: {}", path, exc)
