"""What a state belongs to: one configuration, one target, one generation of each table.

A checkpoint says "every row up to here is in the table". That holds only for
the table it was written to: not for the same name on another endpoint or
account, and not for a table that was dropped and created again since. Before
anything is skipped as done, ``check_target`` refuses a state written to
another target, and ``reconcile_tables`` voids the checkpoints of every item
type whose table is missing or is not the generation they were written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.errors import StateError
from sqlite2ddb.plan.compile import Plan, TablePlan
from sqlite2ddb.state.checkpoints import MigrationState


def check_owner(state: MigrationState, config: Config) -> None:
    """Refuse a state folder that another configuration file owns, unless shared on purpose."""
    mine = str(Path(config.path).absolute())
    owner = state.owner
    if owner is None or owner == mine:
        state.set_owner(mine)
        return
    if config.shares_state_on_purpose:
        logger.debug("state {} is shared on purpose with {}", state.path, owner)
        return
    if Path(owner).exists():
        raise StateError(
            f"the state in {state.path.parent} belongs to the configuration {owner}, not {mine}",
            "give this configuration a state of its own: set migration_settings.state_file, "
            "or name its file differently",
        )
    logger.warning("the state {} belonged to {}, which no longer exists; it now belongs to {}", state.path, owner, mine)
    state.set_owner(mine)


def generation(description: dict[str, Any]) -> str:
    """What tells two tables of the same name apart: TableId (AWS), else the creation time."""
    table_id = description.get("TableId")
    if table_id:
        return str(table_id)
    created: Any = description.get("CreationDateTime")  # a datetime from boto3
    return created.isoformat(timespec="milliseconds") if hasattr(created, "isoformat") else str(created)


def account_of(arn: str | None) -> str | None:
    """``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`` -> ``REGION/ACCOUNT`` (None for DynamoDB Local)."""
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[3] in ("", "ddblocal"):
        return None
    return f"{parts[3]}/{parts[4]}"


def target_record(target: Target, described: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Where the writes go: the endpoint (or AWS region) and, on AWS, the account from a table ARN."""
    accounts = sorted(set(filter(None, (account_of(d.get("TableArn")) for d in described.values() if d))))
    return {"endpoint": target.identity, "account": accounts[0] if accounts else None}


def describe_where(record: dict[str, Any]) -> str:
    account = record.get("account")
    return record["endpoint"] + (f" (region/account {account})" if account else "")


def check_target(state: MigrationState, target: Target, described: dict[str, dict[str, Any] | None]) -> None:
    """Refuse, before anything is written, a state whose progress was written to another target."""
    previous = state.identity.get("target", {})
    current = target_record(target, described)
    progress = any(state.status(name) != "pending" for name in state.item_names())
    if not previous.get("endpoint"):
        if progress:
            logger.info("state {} upgraded: its checkpoints are bound to {}", state.path, describe_where(current))
        return
    same_endpoint = previous["endpoint"] == current["endpoint"]
    same_account = None in (previous.get("account"), current["account"]) or previous["account"] == current["account"]
    if (same_endpoint and same_account) or not progress:
        return
    raise StateError(
        f"the state {state.path} holds the progress of a migration to {describe_where(previous)}, "
        f"and this configuration targets {describe_where(current)}",
        "use another state_file for the new target, or run 'reset' to forget the progress on the old one",
    )


def reconcile_tables(
    state: MigrationState,
    plan: Plan,
    tables: list[TablePlan],
    described: dict[str, dict[str, Any] | None],
    created: Sequence[str] = (),
) -> list[str]:
    """Void the checkpoints of item types whose table is missing or recreated; bind the live tables.

    Returns the tables that are not the ones the state knew (missing, or
    another generation): what was recorded of their items no longer holds.
    Voiding is saved before the new generation is: a kill between the two
    voids them again on the next run, never keeps them.
    """
    stale: list[str] = []
    known = set(state.item_names())
    for table in tables:
        live = described.get(table.name)
        recorded = state.tables.get(table.name)
        names = [i.name for i in plan.item_types if i.table.name == table.name and i.name in known]
        progress = [n for n in names if state.status(n) != "pending"]
        reason = _void_reason(table.name, None if table.name in created else live, recorded)
        if reason and (progress or recorded is not None):
            stale.append(table.name)
            if table.name in created:
                reason += " (created again now)"
            if progress:
                logger.warning("{}: {} written again from the start", reason, ", ".join(progress))
                state.void(progress)
        elif recorded is None and progress and live is not None:
            logger.info(
                "state upgraded: the checkpoints of {} are bound to table {} created {}",
                ", ".join(progress),
                table.name,
                live.get("CreationDateTime"),
            )
        if live is not None:
            state.bind_table(table.name, {"arn": live.get("TableArn"), "generation": generation(live)})
    return stale


def _void_reason(name: str, live: dict[str, Any] | None, recorded: dict[str, Any] | None) -> str | None:
    if live is None:
        return f"table {name} does not exist any more, so its checkpoints are void"
    if recorded is not None and recorded.get("generation") != generation(live):
        return (
            f"table {name} was recreated (now {generation(live)}; the checkpoints belong to "
            f"{recorded.get('generation')}), so its checkpoints are void"
        )
    return None
