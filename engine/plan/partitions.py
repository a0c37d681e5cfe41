"""Hot partition keys: what bounds a bulk load on AWS besides the table's own rate.

DynamoDB accepts at most 1,000 write units per second for one partition key
value, and a new on-demand table about 4,000 per second at first. Each GSI
entry is charged to the index's own partitions. A source where one key holds
many items (one playlist, one big customer) makes the load wait on that key
however fast the rest goes. ``plan`` and ``migrate --dry-run`` add up the
write units per partition key value of the table and of each GSI, and give the
lower bound of the load time these limits allow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

KEY_LIMIT = 1000.0  # write units per second for one partition key value
TABLE_LIMIT = 4000.0  # write units per second of a new on-demand table, at first
TOP = 5


@dataclass
class PartitionLoad:
    """Write units per partition key value, for the table itself (``table``) and for each GSI.

    Kept as one flat dictionary keyed by (where, key value): adding to it is on
    the estimate's per-item path.
    """

    units: dict[tuple[str, Any], int] = field(default_factory=dict)

    def add(self, where: str, key: Any, units: int) -> None:
        slot = (where, key)
        self.units[slot] = self.units.get(slot, 0) + units

    def merge(self, other: PartitionLoad) -> None:
        for slot, units in other.units.items():
            self.units[slot] = self.units.get(slot, 0) + units

    def by_index(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for (where, key), units in self.units.items():
            out.setdefault(where, Counter())[str(key)] += units
        return out

    def hottest(self, n: int = TOP) -> list[dict[str, Any]]:
        """The ``n`` hottest keys over the table and its indexes, with their share of their index."""
        rows: list[dict[str, Any]] = []
        for where, counter in self.by_index().items():
            total = sum(counter.values()) or 1
            for key, units in counter.most_common(n):
                rows.append({"where": where, "key": key, "units": units, "share": round(units / total, 3)})
        return sorted(rows, key=lambda r: -r["units"])[:n]

    def lower_bound(self, max_wcu: float | None = None) -> dict[str, Any]:
        """Seconds the load takes at least, what sets it, and whether one key holds the load back.

        One key dominates when it, not a whole index's rate, sets a bound of more
        than a second: the rest of the table's budget waits on it.
        """
        table_rate = min(TABLE_LIMIT, max_wcu) if max_wcu else TABLE_LIMIT
        bound, cause, by_key = 0.0, "nothing to write", False
        for where, counter in self.by_index().items():
            if not counter:
                continue
            total = sum(counter.values())
            key, units = counter.most_common(1)[0]
            whole, one = total / table_rate, units / KEY_LIMIT
            if whole > bound:
                bound, cause, by_key = whole, f"{where}: {total} units at {table_rate:g}/s", False
            if one > bound:
                bound, cause, by_key = one, f"{where}: key {key} ({units} units at {KEY_LIMIT:g}/s)", True
        return {"seconds": round(bound, 1), "set_by": cause, "key_dominates": by_key and bound > 1.0}
