"""The state of a configuration's migration: checkpoints, the run lock, and what they belong to.

``checkpoints`` keeps the per item type progress in one crash-safe file;
``binding`` ties that file to one configuration, one target and one
generation of each table, so that a checkpoint is never trusted for a table
it was not written to.
"""

from sqlite2ddb.state.checkpoints import (
    Lock,
    MigrationState,
    consumed_position,
    record_position,
    remove_stale_temps,
)

__all__ = ["Lock", "MigrationState", "consumed_position", "record_position", "remove_stale_temps"]
