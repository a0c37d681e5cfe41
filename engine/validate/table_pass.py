"""One pass over a table: counts, the item-by-item comparison, rules and aggregates.

The source is rendered once into the differ and the table is read once, in
parallel Scan segments; every check of the table is fed from that one read.
Segments interleave differently on every run, so the failures found while
reading are reported smallest key first (``SortedFailures``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import sqlite2ddb.validate.items as item_failures
from sqlite2ddb.canonical import jsonable, key_of, wire_key, wire_text
from sqlite2ddb.dynamodb.objects import ObjectStore
from sqlite2ddb.dynamodb.reads import Reader
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.render.stream import Renderer
from sqlite2ddb.sync.item_diff import ItemDiff
from sqlite2ddb.validate.aggregates import Aggregate
from sqlite2ddb.validate.objects import ObjectCheck
from sqlite2ddb.validate.progress import Progress
from sqlite2ddb.validate.results import CheckResult, Failure, SortedFailures
from sqlite2ddb.validate.rules import rule_failure
from sqlite2ddb.wire import Wire


def table_check_names(plan: Plan, table: TablePlan) -> list[str]:
    """The checks one pass over ``table`` feeds, in report order."""
    items = item_types_of(plan, table)
    names = [f"count:{table.config_name}", f"items:{table.config_name}"]
    names += [f"objects:{table.config_name}"] if any(i.offload for i in items) else []
    names += [f"count:{i.name}" for i in items] + [f"rule:{c.name}" for i in items for c in i.spec.checks]
    item_names = {i.name for i in items}
    names += [f"aggregate:{a.name}" for a in plan.mapping.aggregate_checks if a.item_type in item_names]
    return names


def item_types_of(plan: Plan, table: TablePlan) -> list[ItemTypePlan]:
    return [i for i in plan.item_types if i.table.spec.name == table.spec.name]


def _type_of(item: dict[str, Wire], markers: Iterable[str], by_marker: dict[Any, ItemTypePlan]) -> ItemTypePlan | None:
    for marker in markers:
        value = item.get(marker)
        if value and "S" in value:
            found = by_marker.get((marker, value["S"]))
            if found:
                return found
    return None


class TablePass:
    """The checks of one table, fed by one rendering of the source and one read of the table."""

    def __init__(
        self,
        plan: Plan,
        table: TablePlan,
        renderer: Renderer,
        wanted: Callable[[str], bool],
        objects: ObjectStore | None = None,
    ) -> None:
        self.table = table
        self.renderer = renderer
        self.wanted = wanted
        self.items = item_types_of(plan, table)
        self.keys = list(table.spec.primary_key_names)
        self.compare = CheckResult(f"items:{table.config_name}", "items", table.name, compares_values=True)
        self.do_items = wanted(self.compare.name)
        self.rules = {
            (i.name, c.name): CheckResult(f"rule:{c.name}", "rule", table.name, compares_values=True)
            for i in self.items
            for c in i.spec.checks
        }
        self.rule_failures = {key: (result, SortedFailures()) for key, result in self.rules.items()}
        item_names = {i.name for i in self.items}
        self.aggregates = [
            Aggregate(spec, table.name) for spec in plan.mapping.aggregate_checks if spec.item_type in item_names
        ]
        self.markers = {i.spec.marker for i in self.items}
        self.by_marker = {(i.spec.marker, i.spec.marker_value()): i for i in self.items}
        self.tally = {i.name: 0 for i in self.items}
        self.expected = {i.name: 0 for i in self.items}
        self.scanned = 0
        name = f"objects:{table.config_name}"
        offloads = objects is not None and any(i.offload for i in self.items) and wanted(name)
        self.objects = ObjectCheck(table.name, table.config_name, self.keys, objects) if offloads else None  # type: ignore[arg-type]

    def run(self, reader: Reader, conn: sqlite3.Connection, progress: Progress) -> list[CheckResult]:
        """Render, read, compare; the results in report order (the caller times them)."""
        with ItemDiff(self.keys, self.table.name) as differ:
            task = progress.task(f"{self.compare.name} (render)", sum(i.expected_rows for i in self.items))
            self._render_into(differ, task)
            for failure in item_failures.duplicates(differ):
                self.compare.fail(failure)
            full = self.do_items and not self.renderer.sampling
            task = progress.task(f"{self.compare.name} (read)", sum(self.expected.values()) or None)
            for page in reader.scan(self.table.name, reader.workers):
                for stored in page:
                    text = wire_text(stored)
                    self._observe(stored, text)
                    if full:
                        differ.add_stored(stored, text)
                task.advance(len(page))
            task.close()
            for result, failures in self.rule_failures.values():
                result.absorb(failures)
            if full:
                for failure in item_failures.differences(differ):
                    self.compare.fail(failure)
            elif self.do_items:
                self._compare_sample(reader, differ, differ.rendered_keys())
            self.compare.compared = differ.count
        return self._results(conn)

    def _render_into(self, differ: ItemDiff, task: Any) -> None:
        on_error = (lambda error: self.compare.fail(Failure("unrenderable", str(error)))) if self.do_items else _ignore
        for item in self.items:
            on_uploads = self.objects.add if self.objects is not None and item.offload else None
            for rendered in self.renderer.render(item, on_error, on_uploads=on_uploads):
                self.expected[item.name] += 1
                if self.do_items:
                    differ.add(item.name, rendered)
            if self.renderer.sampling:
                self.expected[item.name] = self.renderer.rows_written(item)
            task.advance(item.expected_rows)
        task.close()

    def _observe(self, stored: dict[str, Wire], text: str) -> None:
        """Count one item of the table and run its type's rules and aggregates on it."""
        self.scanned += 1
        item_type = _type_of(stored, self.markers, self.by_marker)
        if item_type is None:
            return
        self.tally[item_type.name] += 1
        for check in item_type.spec.checks:
            failure = rule_failure(item_type, check, stored, self.keys, text)
            if failure is not None:
                self.rule_failures[(item_type.name, check.name)][1].add(failure)
        for aggregate in self.aggregates:
            if aggregate.spec.item_type == item_type.name:
                aggregate.add(stored)

    def _compare_sample(self, reader: Reader, differ: ItemDiff, wanted: list[Any]) -> None:
        name = self.table.name
        for start in range(0, len(wanted), 100):
            chunk = wanted[start : start + 100]
            request = {name: {"Keys": [wire_key(k, self.keys, self.table) for k in chunk], "ConsistentRead": True}}
            found: dict[str, dict[str, Wire]] = {}
            for stored in reader.batch_get(name, request, f"reading {name}"):
                found[json.dumps(key_of(stored, self.keys), default=jsonable, sort_keys=True)] = stored
            for key in chunk:
                found_item = found.get(json.dumps(key, default=jsonable, sort_keys=True))
                failures = (
                    [item_failures.missing(differ, key)]
                    if found_item is None
                    else item_failures.compare(differ, found_item)
                )
                for failure in failures:
                    self.compare.fail(failure)

    def _results(self, conn: sqlite3.Connection) -> list[CheckResult]:
        results = [self._count(item) for item in self.items]
        results.append(self._total())
        if self.do_items:
            results.append(self._summarized())
        if self.objects is not None:
            results.append(self.objects.finish())
        for (item_name, _), result in self.rules.items():
            result.compared = self.tally.get(item_name, 0)
            if result.empty:
                result.summary = f"nothing compared: the table holds no {item_name} item"
            results.append(result)
        results += [aggregate.finish(conn) for aggregate in self.aggregates if self.wanted(aggregate.result.name)]
        return [r for r in results if self.wanted(r.name)]

    def _summarized(self) -> CheckResult:
        """The item-by-item check with its summary: a sample says how many of how many items it compared."""
        compare = self.compare
        if self.renderer.sampling:
            compare.available = sum(self.expected.values())
            text = f"{compare.compared:,} of {compare.available:,} items sampled and compared"
        else:
            text = f"{compare.compared} items rendered and compared"
        if compare.empty:
            text += ": the sample took none" if compare.available else ": the source renders none"
        compare.summary = text + ("" if compare.passed else f"; {compare.failure_count} differences")
        return compare

    def _count(self, item: ItemTypePlan) -> CheckResult:
        result = CheckResult(f"count:{item.name}", "count", self.table.name)
        tally, expected = self.tally[item.name], self.expected[item.name]
        result.compared = expected
        if tally != expected:
            result.fail(
                Failure(
                    "count",
                    f"{item.name}: {tally} items in the table, source gives {expected}",
                    expected=expected,
                    actual=tally,
                )
            )
        result.summary = f"{tally} of {expected}"
        return result

    def _total(self) -> CheckResult:
        result = CheckResult(f"count:{self.table.config_name}", "count", self.table.name)
        result.compared = sum(self.expected.values())
        if self.scanned != result.compared:
            result.fail(
                Failure(
                    "count",
                    f"table holds {self.scanned} items, the plan writes {result.compared}",
                    expected=result.compared,
                    actual=self.scanned,
                )
            )
        result.summary = f"{self.scanned} of {result.compared} (whole table)"
        return result


def _ignore(error: Exception) -> None:
    return None
