"""The Data Docs readable offline (tasks/validate/offline_docs.py): on a real site built by the validation."""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from tasks.config import IngestConfig, ValidateConfig
from tasks.ingest.merge import merge_observations
from tasks.ingest.read import ingest_file
from tasks.validate.data_docs import validate_with_docs
from tasks.validate.offline_docs import ASSET_DIR, make_offline

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
# Any absolute or protocol-relative URL with a host name: http://x.y, https://x.y, //x.y
REMOTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+""")


def _texts(site: Path) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8", errors="replace")
            for p in site.rglob("*") if p.suffix.lower() in {".html", ".htm", ".css", ".js"}}  # fmt: skip


def _tree(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Data Docs of a validation with a quarantined row (a failing expectation: a red status icon)."""
    table = merge_observations([ingest_file(BAD / "negative_count.csv", IngestConfig()).table]).table
    link = tmp_path_factory.mktemp("docs") / "data_docs"
    validate_with_docs(table, date(2026, 11, 27), ValidateConfig(), link)
    return link.resolve()


def test_the_validation_s_docs_refer_to_no_remote_host(site: Path) -> None:
    leftovers = {str(p.relative_to(site)): REMOTE.findall(t) for p, t in _texts(site).items() if REMOTE.search(t)}
    assert leftovers == {}


def test_pages_link_the_local_assets_and_keep_their_data(site: Path) -> None:
    assert (site / ASSET_DIR / "offline.js").is_file() and (site / ASSET_DIR / "offline.css").is_file()
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3  # index, suites, validations
    for page in pages:
        text = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(site).parts) - 1
        assert f'src="{"../" * depth}{ASSET_DIR}/offline.js"' in text
        assert f'href="{"../" * depth}{ASSET_DIR}/offline.css"' in text
    index = (site / "index.html").read_text(encoding="utf-8")
    assert ".bootstrapTable(" in index and "_table_row_link_path" in index  # the table data is still there


def test_idempotent(site: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    once = _tree(copy)
    make_offline(copy)
    assert _tree(copy) == once
