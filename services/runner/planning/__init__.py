"""Planning a run: read both sides of a job and compute its whole plan, nothing written.

One entry (`entry.py`: `plan_run` for runs and previews alike, `plan_job` given open
sides) and two strategies that give the very same plan:

- `in_memory.py`: every record of every object type held, the types planned together
  (references resolved across them) — one type or several;
- `low_memory.py`: one large type whose destination is cheap to read twice, planned
  from per-key digests (a million records in a few hundred megabytes), its plain
  creates planned onto disk and merged back in the plan's order (`spill.py`).

Around them: `sides.py` opens each type's providers, `source.py` reads, filters and
maps the source (a failed record holds its object), `reading.py` says what a run reads
(everything, or only what changed) and what it remembers (the lifecycle's absences),
`absence.py` confirms a full run's absences in a source whose read may miss a record.
"""

from .entry import Asked, PlannedRun, default_context, plan_job, plan_run
from .sides import Sides, open_sides

__all__ = ["Asked", "PlannedRun", "Sides", "default_context", "open_sides", "plan_job", "plan_run"]
