"""Delayed verdicts folded into the delayed-risk state: `apply_label` and `fold_label`.

A label (a verdict on an earlier transaction, `LabelEvent`) changes only the delayed-risk state
of the entities it names: their label buckets (`_Buckets` of (count, frauds) by transaction time)
and their fraud streak. The features read from that state (risk windows, streak) are computed in
`FeatureState.compute` (`features/state.py`), whose header gives their semantics; this module is
the write side.

`LabelFoldMixin` is a mixin, not a set of functions the state delegates to: `FeatureState`
inherits it, so `state.apply_label` and `state.fold_label` are the state's own methods, with no
extra call layer on the offline replays that fold millions of labels. The mixin reads the
state's attributes declared below, which `FeatureState.__init__` sets.
"""

from __future__ import annotations

from collections.abc import Mapping

from fraudstream.events import LabelEvent
from fraudstream.features.entity import EntityTable, _Buckets, _Entity
from fraudstream.features.spec import FeatureSpec

_DelayedPlan = tuple[str, EntityTable, float, tuple[float, ...], float, bool]
"""A delayed block compiled: (role, its table, delay, windows, delay + longest window, streak)."""


def delayed_plans(spec: FeatureSpec, tables: Mapping[str, EntityTable]) -> list[_DelayedPlan]:
    """The spec's delayed blocks compiled, in the spec's order."""
    return [
        (
            d.role,
            tables[d.role],
            float(d.delay_s),
            tuple(float(w) for w in d.windows),
            float(d.delay_s) + max(d.windows),
            d.streak,
        )
        for d in spec.delayed
    ]


class LabelFoldMixin:
    """The label side of `FeatureState`: verdicts into the delayed-risk state."""

    _track: bool
    _dirty: set[tuple[str, str]]
    _res: float
    _cap: int
    _dplans: list[_DelayedPlan]
    _distinct_tables: list[EntityTable]

    def apply_label(
        self, label: LabelEvent, position: int | None = None, partition: int = 0
    ) -> None:
        """Fold a verdict into the delayed-risk state of each entity named in `label.entities`.

        With `position` (offset within labels-topic `partition`), a label at or below the highest
        position an entity has folded from that partition is a replay and is ignored.
        """
        self.fold_label(
            label.transaction_timestamp,
            label.known_at,
            label.is_fraud,
            label.entities,
            position,
            partition,
            previous=label.previous,
        )

    def fold_label(
        self,
        transaction_timestamp: float,
        known_at: float,
        is_fraud: bool,
        entities: dict[str, str],
        position: int | None = None,
        partition: int = 0,
        *,
        previous: bool | None = None,
    ) -> None:
        """`apply_label` without building a `LabelEvent` (offline replays of millions).
        `previous`: this verdict corrects that earlier one on the same transaction: the
        transaction stays counted once, its fraud count moves by the difference (nothing when
        its bucket has left every window), and the streak goes on as for a new label."""
        fraud = 1.0 if is_fraud else 0.0
        count = 1.0
        if previous is not None:
            count = 0.0
            fraud -= 1.0 if previous else 0.0
        for table in self._distinct_tables:
            table.settle()
        for role, table, _delay, _windows, span, streak in self._dplans:
            key = entities.get(role)
            if key is None:
                continue
            ent = table.get(key)
            if ent is None:
                ent = table[key] = _Entity()
            if position is not None:
                if ent.lpos is None:
                    ent.lpos = {}
                if ent.lpos.get(partition, -1) >= position:
                    continue
                ent.lpos[partition] = position
            b = ent.db
            if b is None:
                b = ent.db = _Buckets(self._res)
            b.prune(known_at - span, self._res)
            if count or transaction_timestamp > known_at - span:
                b.add(transaction_timestamp, count, fraud, self._cap)
            if streak:
                sk = ent.sk
                if sk is None:
                    sk = ent.sk = [0.0, 0.0]
                if is_fraud:
                    if not sk[0]:
                        sk[1] = transaction_timestamp
                    sk[0] += 1.0
                else:
                    sk[0] = sk[1] = 0.0
            if ent.seen < known_at:
                ent.seen = known_at
            if self._track:
                self._dirty.add((role, key))
