"""Aggregate checks: count/sum/min/max over the table's items against one SQL value."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from sqlite2ddb.canonical import jsonable, plain_value
from sqlite2ddb.spec.model import AggregateCheckSpec
from sqlite2ddb.validate.results import CheckResult, Failure
from sqlite2ddb.wire import Wire


class Aggregate:
    """One aggregate check, folded item by item as the table is scanned (constant memory)."""

    def __init__(self, spec: AggregateCheckSpec, table: str) -> None:
        self.spec = spec
        # count and sum compare two numbers even over no items (0 = 0); min and max over none compare nothing
        self.result = CheckResult(
            f"aggregate:{spec.name}", "aggregate", table, compares_values=spec.fn in ("min", "max")
        )
        self.count = 0
        self.value: Decimal | None = None

    def add(self, stored: dict[str, Wire]) -> None:
        """Fold in one item of the aggregate's item type."""
        if self.spec.fn == "count":
            number = Decimal(1)
        elif self.spec.attribute in stored and "N" in stored[self.spec.attribute]:
            number = Decimal(stored[self.spec.attribute]["N"])
        else:
            return
        self.count += 1
        if self.value is None:
            self.value = number
        elif self.spec.fn in ("count", "sum"):
            self.value += number
        else:
            self.value = min(self.value, number) if self.spec.fn == "min" else max(self.value, number)

    def finish(self, conn: sqlite3.Connection) -> CheckResult:
        """Compare the folded value with the SQL's answer."""
        spec, result = self.spec, self.result
        try:
            row = conn.execute(spec.sql).fetchone()
        except sqlite3.Error as exc:
            result.fail(Failure("aggregate", f"{spec.location}: SQL does not run: {exc}"))
            return result
        if not row:
            result.fail(Failure("aggregate", f"{spec.location}: SQL returns no row"))
            return result
        sql_value = row[0]
        actual = self.value if self.value is not None or spec.fn not in ("count", "sum") else Decimal(0)
        expected = plain_value(sql_value) if sql_value is not None else None
        result.compared = self.count
        actual_norm = plain_value(actual) if actual is not None else None
        result.summary = (
            f"SQL {jsonable(expected) if expected is not None else 'NULL'} = DynamoDB "
            f"{spec.fn}({spec.attribute or '*'}) {jsonable(actual_norm) if actual_norm is not None else 'none'}"
        )
        if expected != actual_norm:
            result.fail(
                Failure(
                    "aggregate",
                    f"{spec.fn} of {spec.item_type}.{spec.attribute or '*'} differs from the SQL",
                    path=spec.attribute,
                    expected=jsonable(expected),
                    actual=jsonable(actual_norm),
                )
            )
        return result
