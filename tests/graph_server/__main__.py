"""`python -m tests.graph_server FOLDER`: the tests' Graph in its own process, its TLS
files in FOLDER and its URL written to FOLDER/url once it listens."""

from __future__ import annotations

import sys
from pathlib import Path

from .server import GraphHttpServer
from .tls import make_tls


def main() -> None:
    folder = Path(sys.argv[1])
    _, cert, key = make_tls(folder)
    server = GraphHttpServer(cert, key)
    (folder / "url.tmp").write_text(server.service.base)
    (folder / "url.tmp").rename(folder / "url")
    server.serve_forever()


if __name__ == "__main__":
    main()
