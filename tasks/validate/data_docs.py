"""Great Expectations Data Docs: the HTML pages of a validation, from the same suites and the same GX run."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tasks.config import ValidateConfig
from tasks.folder_publish import publish_folder
from tasks.validate.offline_docs import make_offline
from tasks.validate.rules import _new_context
from tasks.validate.split import ValidationFailed, ValidationOutcome, _validate

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

DOCS_SITE = "hotspot"
DOCS_INDEX = "index.html"  # GX's fixed entry page inside a built site


def _build_docs(context: AbstractDataContext, folder: Path) -> None:
    """Render every suite and validation result held by ``context`` as a Data Docs site in ``folder``."""
    context.add_data_docs_site(
        site_name=DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    # Only this site: the ephemeral context also carries a default site in a throw-away folder.
    context.build_data_docs(site_names=[DOCS_SITE])
    if not (folder / DOCS_INDEX).is_file():
        raise RuntimeError(f"Great Expectations built no {DOCS_INDEX} in {folder}")
    # GX copies ~3.4 MB of tutorial GIFs that no page links to; every run date would keep a copy.
    texts = [page for page in folder.rglob("*") if page.suffix in {".html", ".css"}]
    pages = " ".join(page.read_text(encoding="utf-8", errors="replace") for page in texts)
    for image in (folder / "static" / "images").glob("*"):
        if image.name not in pages:
            image.unlink()
    # Analyst machines are often offline: no page may need a CDN to show its tables and status icons.
    make_offline(folder)


def validate_with_docs(
    table: pd.DataFrame, run_date: date, config: ValidateConfig, site: Path, frequency: str = "auto"
) -> ValidationOutcome:
    """:func:`validate_canonical`, plus the Data Docs of that same run published at ``site``.

    The docs are written also when validation raises ValidationFailed (they then show the
    failing expectations), before the error propagates. ``site / DOCS_INDEX`` is the entry page.
    """
    context = _new_context()
    try:
        outcome = _validate(context, table, run_date, config, frequency)
    except ValidationFailed:
        publish_folder(site, lambda folder: _build_docs(context, folder))
        raise
    publish_folder(site, lambda folder: _build_docs(context, folder))
    return outcome
