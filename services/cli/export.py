"""`idsync job preview JOB --export FILE`: which format the file is written in.

The writing itself is services/common/report_writer.py, which the notifier's change
reports use too.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import BadInput
from services.common.report_writer import FORMATS


def export_format(path: Path, given: str | None) -> str:
    """The format asked for, else the one the file name ends in."""
    if given is not None:
        return given
    suffix = path.suffix.lower().removeprefix(".")
    if suffix not in FORMATS:
        raise BadInput(
            f"{path}: cannot tell the export format from the name; "
            "end it in .csv, .xlsx or .json, or add --format csv|xlsx|json"
        )
    return suffix
