"""Record values as CSV cells: text cells (../cells.py), a list joined with the field's
delimiter."""

from __future__ import annotations

from ..cells import LIST_JOINER, canonical_cells, cell

__all__ = ["LIST_JOINER", "canonical_cells", "cell"]
