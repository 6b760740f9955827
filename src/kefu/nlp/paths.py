"""Where the labelled evaluation data lives, resolved the same way from any clone.

``KEFU_EVALDATA`` names the folder; without it, ``../shared/evaldata`` beside the
repository root (the checkout that holds ``src/kefu``), then beside the current
directory. Training and the benches call ``evaldata_dir()``; nothing hard-codes a path.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "KEFU_EVALDATA"
REPO_ROOT = Path(__file__).resolve().parents[3]


def evaldata_dir() -> Path:
    """The evaluation data folder (it may not exist: callers report what is missing)."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    for base in (REPO_ROOT, Path.cwd()):
        candidate = (base / ".." / "shared" / "evaldata").resolve()
        if candidate.is_dir():
            return candidate
    return (REPO_ROOT / ".." / "shared" / "evaldata").resolve()
