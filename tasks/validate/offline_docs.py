"""Make a built Great Expectations 1.x Data Docs site readable with no network.

GX's page templates load Bootstrap 4, bootstrap-table, jQuery, popper, Font Awesome, the
Bootstrap datepicker, a dark-mode sheet and Vega from public CDNs, and the GX logo from S3.
Offline, the index shows no tables (bootstrap-table draws them from inline data) and the
status icons (Font Awesome) are blank. :func:`make_offline` rewrites the site in place:

* every ``<script src>`` / ``<link href>`` pointing off the machine is removed;
* the logo ``<img>`` points at the copy GX ships in ``static/images`` (or becomes its alt text);
* CSS ``url(...)`` / ``@import`` of remote files become ``none`` / are dropped;
* footers made of links to GX's web site are removed and other off-site links lose their
  ``href`` (their text stays), so no page refers to a remote host any more;
* our own ``static/offline/offline.css`` and ``offline.js`` (in ``offline_assets/`` beside this
  module; no third-party code) are linked from every page: they draw the tables from the
  pages' inline data (sortable, searchable, rows clickable), make tabs and collapsible blocks
  work, and show the status icons as Unicode symbols (check, cross, warning sign).

Pure file transformation, idempotent (a second run changes nothing). Text inside the pages
(for example a URL that is an unexpected value in the data) is left alone: it is not a request.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

ASSETS = Path(__file__).resolve().parent / "offline"
ASSET_DIR = "static/offline"
MARKER = '<meta name="hotspot-offline-docs" content="1">'

_REMOTE = r"""(?:https?:)?//[^\s"'<>()]+"""
_Q = r"""["']?"""
_SCRIPT = re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*{_Q}{_REMOTE}[^>]*>\s*</script\s*>[ \t]*\n?""", re.I)
_LINK = re.compile(rf"""<link\b[^>]*\bhref\s*=\s*{_Q}{_REMOTE}[^>]*>[ \t]*\n?""", re.I)
_IMG = re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']({_REMOTE})["'][^>]*>""", re.I | re.S)
_ALT = re.compile(r"""\balt\s*=\s*["']([^"']*)["']""", re.I)
_CSS_URL = re.compile(rf"""url\(\s*{_Q}{_REMOTE}{_Q}\s*\)""", re.I)
_CSS_IMPORT = re.compile(rf"""@import\s+(?:url\()?\s*{_Q}{_REMOTE}{_Q}\s*\)?[^;]*;""", re.I)
_FOOTER = re.compile(r"""<footer\b.*?</footer\s*>[ \t]*\n?""", re.I | re.S)
_ATTR = re.compile(
    rf"""\s(?:href|src|action|poster|srcset|data-src)\s*=\s*(?:"{_REMOTE}[^"]*"|'{_REMOTE}[^']*'|{_REMOTE})""", re.I
)
_HAS_REMOTE_ATTR = re.compile(rf"""\s(?:href|src)\s*=\s*{_Q}{_REMOTE}""", re.I)


def _prefix(page: Path, site: Path) -> str:
    """Relative path from a page's folder to the site root ('' or '../../')."""
    depth = len(page.relative_to(site).parts) - 1
    return "../" * depth


def _css(text: str) -> str:
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", text))


def _img(match: re.Match[str], site: Path, prefix: str) -> str:
    """A remote image: the same file from static/images if GX shipped it, else its alt text."""
    tag, url = match.group(0), match.group(1)
    name = Path(urlsplit(url if "://" in url else "https:" + url).path).name
    if name and (site / "static" / "images" / name).is_file():
        return tag.replace(url, f"{prefix}static/images/{name}")
    alt = _ALT.search(tag)
    return f'<span class="offline-logo">{alt.group(1) if alt else ""}</span>'


def _html(text: str, site: Path, prefix: str) -> str:
    text = _SCRIPT.sub("", text)
    text = _LINK.sub("", text)
    text = _IMG.sub(lambda m: _img(m, site, prefix), text)
    text = _FOOTER.sub(lambda m: "" if _HAS_REMOTE_ATTR.search(m.group(0)) else m.group(0), text)
    text = _ATTR.sub("", text)  # remaining off-site links: keep the text, drop the target
    text = _css(text)  # inline <style> blocks and style="" attributes
    if MARKER not in text:
        css = f'{MARKER}\n    <link rel="stylesheet" href="{prefix}{ASSET_DIR}/offline.css">'
        js = f'<script src="{prefix}{ASSET_DIR}/offline.js"></script>\n  '
        text = re.sub(r"<head\b[^>]*>", lambda m: f"{m.group(0)}\n    {css}", text, count=1, flags=re.I)
        text = re.sub(r"</head\s*>", lambda m: js + m.group(0), text, count=1, flags=re.I)
    return text


def _write_if_changed(path: Path, text: str) -> None:
    if path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.offline-tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def make_offline(site: Path) -> None:
    """Rewrite the Data Docs site at ``site`` (the folder holding index.html) in place."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"no Data Docs index.html in {site}")
    target = site / ASSET_DIR
    target.mkdir(parents=True, exist_ok=True)
    for asset in ("offline.css", "offline.js"):
        if not (target / asset).is_file() or (target / asset).read_bytes() != (ASSETS / asset).read_bytes():
            shutil.copyfile(ASSETS / asset, target / asset)
    for path in sorted(site.rglob("*")):
        if not path.is_file() or target in path.parents:
            continue
        if path.suffix.lower() in {".html", ".htm"}:
            _write_if_changed(path, _html(path.read_text(encoding="utf-8"), site, _prefix(path, site)))
        elif path.suffix.lower() == ".css":
            _write_if_changed(path, _css(path.read_text(encoding="utf-8")))
