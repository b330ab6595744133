"""Write the server's OpenAPI schema as JSON: `python -m tunix_rt.api.openapi_dump PATH`.

The UI build generates its API types from this file (`make web`), so a schema change that
breaks the UI's code fails the build instead of the browser.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tunix_rt.api.app import create_app
from tunix_rt.settings import Settings


def openapi_schema() -> dict[str, Any]:
    # The schema does not depend on settings; defaults keep it independent of the caller's
    # environment (no token, no database touched: the app is built, never started).
    return create_app(Settings()).openapi()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tunix_rt.api.openapi_dump PATH ('-' for stdout)", file=sys.stderr)
        return 2
    text = json.dumps(openapi_schema(), indent=2, sort_keys=True) + "\n"
    if argv[0] == "-":
        sys.stdout.write(text)
    else:
        target = Path(argv[0])
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")  # unchanged: keep make's timestamps
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
