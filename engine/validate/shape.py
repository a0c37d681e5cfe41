"""The shape check: key schema, attribute types and indexes as the mapping declares them."""

from __future__ import annotations

from typing import Any

from sqlite2ddb.dynamodb import table_settings
from sqlite2ddb.dynamodb.target import Target, create_table_request
from sqlite2ddb.plan.compile import TablePlan
from sqlite2ddb.validate.results import CheckResult, Failure


def shape_check(table: TablePlan, described: dict[str, Any], target: Target) -> CheckResult:
    """The ``shape:<table>`` check from what DescribeTable (and the settings' own reads) report."""
    result = CheckResult(f"shape:{table.config_name}", "shape", table.name, compared=1)
    for problem in shape_drift(table, described) + table_settings.drift(target, table, described):
        result.fail(Failure("drift", problem))
    result.summary = "key schema and indexes as declared" if result.passed else "table differs from the mapping"
    return result


def shape_drift(table: TablePlan, described: dict[str, Any]) -> list[str]:
    """Differences between the declared table and what DescribeTable reports."""
    wanted = create_table_request(table)
    problems = []
    if described.get("KeySchema") != wanted["KeySchema"]:
        problems.append(
            f"{table.name}: key schema is {described.get('KeySchema')}, mapping declares {wanted['KeySchema']}"
        )
    types = {d["AttributeName"]: d["AttributeType"] for d in described.get("AttributeDefinitions", [])}
    for definition in wanted["AttributeDefinitions"]:
        if types.get(definition["AttributeName"]) != definition["AttributeType"]:
            problems.append(
                f"{table.name}: attribute {definition['AttributeName']} is {types.get(definition['AttributeName'])}, "
                f"mapping declares {definition['AttributeType']}"
            )
    have = {g["IndexName"]: g for g in described.get("GlobalSecondaryIndexes", [])}
    for gsi in wanted.get("GlobalSecondaryIndexes", []):
        actual = have.pop(gsi["IndexName"], None)
        if actual is None:
            problems.append(f"{table.name}: index {gsi['IndexName']} is missing")
            continue
        problems += _index_drift(table, gsi, actual)
    for extra in have:
        problems.append(f"{table.name}: index {extra} exists but is not in the mapping")
    return problems


def _index_drift(table: TablePlan, gsi: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    if actual.get("KeySchema") != gsi["KeySchema"]:
        problems.append(
            f"{table.name}: index {gsi['IndexName']} key schema is {actual.get('KeySchema')}, mapping declares {gsi['KeySchema']}"
        )
    projection = actual.get("Projection", {})
    if projection.get("ProjectionType") != gsi["Projection"]["ProjectionType"] or sorted(
        projection.get("NonKeyAttributes", [])
    ) != sorted(gsi["Projection"].get("NonKeyAttributes", [])):
        problems.append(
            f"{table.name}: index {gsi['IndexName']} projection is {projection}, mapping declares {gsi['Projection']}"
        )
    return problems
