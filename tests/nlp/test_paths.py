"""The evaluation data is found from any clone: ``KEFU_EVALDATA`` or ``../shared/evaldata``."""

from __future__ import annotations

import re
from pathlib import Path

from kefu.nlp import paths

ROOT = Path(__file__).resolve().parents[2]


def test_the_environment_variable_names_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ENV, str(tmp_path / "别处的数据"))
    assert paths.evaldata_dir() == (tmp_path / "别处的数据").resolve()


def test_without_it_the_folder_is_shared_evaldata_beside_the_checkout(monkeypatch):
    monkeypatch.delenv(paths.ENV, raising=False)
    assert paths.evaldata_dir() == (paths.REPO_ROOT / ".." / "shared" / "evaldata").resolve()
    assert paths.REPO_ROOT == ROOT


def test_no_absolute_data_path_in_the_library_or_the_benches():
    absolute = re.compile(r"""["'](/work|/home|/root|/tmp|/data)/""")
    sources = [*(ROOT / "src" / "kefu" / "nlp").glob("*.py"), *(ROOT / "bench").glob("*.py")]
    assert sources
    offenders = [str(p.relative_to(ROOT)) for p in sources if absolute.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
