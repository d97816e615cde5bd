"""The portal's OpenAPI document, as FastAPI generates it from the code (docs/api/openapi.json).

`python -m services.portal.openapi` prints it; tests/unit/test_api_documents.py keeps the
committed one in step."""

from __future__ import annotations

import json
from typing import Any

from .http import application


def document() -> dict[str, Any]:
    found: dict[str, Any] = application().openapi()
    return found


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
