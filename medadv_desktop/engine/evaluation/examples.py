"""Which fooled samples a report shows as examples.

The examples must show a reader what the attacks do, not one case six times:

1. every **flip direction** that occurred (true class -> adversarial prediction,
   e.g. lesion -> no_finding *and* no_finding -> lesion) gets one example,
   each at the **largest eps** where that direction occurred;
2. so the largest eps at which anything was fooled is always shown;
3. remaining places go to other fooled samples, largest eps first, attacks
   taking turns;
4. **at most one example per study** (slices of one volume count as one
   study), and never an image whose study is flagged with burned-in
   annotations (text in the pixels may identify the patient), unless the
   user opts in (``evaluate_job(..., examples_with_burned_in=True)``).

The picker sees records as the attacks produce them and keeps a bounded pool
(at most :data:`PER_DIRECTION` panels per direction plus ``n`` others), so memory
does not grow with the data set; the panel (two small images) is made only when
it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medadv_desktop.engine.results.evaluation import ExamplePanel, SampleRecord

PER_DIRECTION = 2       # candidates kept per flip direction (distinct studies, largest eps)


@dataclass
class _Candidate:
    eps: float
    order: int           # arrival order: ties keep the earlier attack / sample
    study: str
    panel: ExamplePanel


@dataclass
class ExamplePicker:
    """Collects candidates during an evaluation and picks the examples (module doc)."""

    n: int
    _by_direction: dict[tuple[int, int], list[_Candidate]] = field(default_factory=dict)
    _others: list[_Candidate] = field(default_factory=list)
    _count: int = 0

    def offer(self, record: SampleRecord, study: str, make_panel: Callable[[], ExamplePanel], *,
              burned_in: bool = False) -> None:
        """A record the attack just produced; ``make_panel`` is called only when it is kept."""
        if self.n <= 0 or burned_in or record.clean_pred != record.true_label or record.adv_pred == record.true_label:
            return
        self._count += 1
        direction = (int(record.true_label), int(record.adv_pred))
        pool = self._by_direction.setdefault(direction, [])
        keep_dir = self._wants(pool, PER_DIRECTION, record.eps, study)
        keep_other = self._wants(self._others, self.n, record.eps, study)
        if not (keep_dir or keep_other):
            return
        cand = _Candidate(float(record.eps), self._count, study, make_panel())
        if keep_dir:
            self._insert(pool, cand, PER_DIRECTION)
        if keep_other:
            self._insert(self._others, cand, self.n)

    @staticmethod
    def _wants(pool: list[_Candidate], cap: int, eps: float, study: str) -> bool:
        same = next((c for c in pool if c.study == study), None)
        if same is not None:
            return eps > same.eps
        return len(pool) < cap or eps > min(c.eps for c in pool)

    @staticmethod
    def _insert(pool: list[_Candidate], cand: _Candidate, cap: int) -> None:
        pool[:] = [c for c in pool if c.study != cand.study]
        pool.append(cand)
        pool.sort(key=lambda c: (-c.eps, c.order))
        del pool[cap:]

    def pick(self) -> list[ExamplePanel]:
        """The examples, in the order of the module doc (directions first, by class index)."""
        chosen: list[_Candidate] = []
        studies: set[str] = set()
        for direction in sorted(self._by_direction):
            for cand in self._by_direction[direction]:
                if len(chosen) < self.n and cand.study not in studies:
                    chosen.append(cand)
                    studies.add(cand.study)
                    break
        rest = sorted(self._others, key=lambda c: (-c.eps, c.order))
        attacks_used = [c.panel.attack for c in chosen]
        while len(chosen) < self.n:
            free = [c for c in rest if c.study not in studies]
            if not free:
                break
            # attacks take turns: prefer the attack shown least so far, then the largest eps
            best = min(free, key=lambda c: (attacks_used.count(c.panel.attack), -c.eps, c.order))
            chosen.append(best)
            studies.add(best.study)
            attacks_used.append(best.panel.attack)
        return [c.panel for c in chosen]


def study_key(sample_id: str) -> str:
    """The study a sample belongs to: its id without the '/slice-NNN' of a volume slice."""
    return sample_id.split("/slice-", 1)[0]
