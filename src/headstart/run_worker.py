"""The background process that records a store's run journals into MLflow (`python -m headstart.run_worker DB`)."""

from __future__ import annotations

import sys
from pathlib import Path

from headstart import tracking


def main(argv: list[str]) -> int:
    """Replay the journals of the store whose SQLite file is argv[0]; problems go to stderr (the worker's log)."""
    with tracking.using_store(f"sqlite:///{Path(argv[0])}"):
        for problem in tracking.flush_pending():
            print(problem, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
