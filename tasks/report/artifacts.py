"""Figures in the Prefect UI: artifacts whose images display in the browser.

Prefect 3.9's UIs (the default V2 at ``/v2`` and V1 at ``/``) render markdown images whose source is
a ``data:image/png`` URI, and nothing serves the store's files to the browser (``file://`` links are refused).
A figure therefore becomes one markdown artifact: its page holds the full figure as a data URI, its
description (shown on the card of the run's Artifacts tab, on one line, as V1 shows only the first) a small
preview. Budgets, measured on a 3.9.1 server: the description travels in an event whose limit is 1.5 MB
(above it the client raises after storing the artifact), and V1 stops drawing data URIs between 7.8 M and
14.9 M characters; a figure is kept under 1 M characters (palette, then downscaling), a preview under 100 k.

Everything but :func:`figure_artifact` is pure.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_FIGURE_CHARS = 1_000_000
"""Budget of the full figure's data URI, in characters (about 730 KB of PNG)."""
MAX_PREVIEW_CHARS = 100_000
"""Budget of the preview's data URI in the description (far below the 1.5 MB event limit)."""
PREVIEW_WIDTH = 480
MIN_WIDTH = 200
PNG_PREFIX = "data:image/png;base64,"


@dataclass(frozen=True)
class FittedPng:
    """A PNG within a size budget; ``reduced`` says what was done to it ("" when it was used as is)."""

    png: bytes
    width: int
    height: int
    reduced: str


def figure_png(figure: Figure, dpi: int = 110) -> bytes:
    """A matplotlib Figure as PNG bytes (no pyplot)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return PNG_PREFIX + base64.b64encode(png).decode("ascii")


def _uri_chars(n_bytes: int) -> int:
    return len(PNG_PREFIX) + 4 * math.ceil(n_bytes / 3)


def fit_png(png: bytes, max_chars: int, max_width: int | None = None) -> FittedPng:
    """The PNG (unchanged when it fits) whose data URI has at most ``max_chars`` characters and width at most
    ``max_width``: a 256-colour palette first (plots have few colours), then downscaling in steps; ValueError
    when even ``MIN_WIDTH`` pixels do not fit."""
    from PIL import Image

    original = Image.open(io.BytesIO(png))
    original.load()
    if original.mode not in {"RGB", "RGBA"}:
        original = original.convert("RGBA")
    width, height = original.size
    if (max_width is None or width <= max_width) and _uri_chars(len(png)) <= max_chars:
        return FittedPng(png, width, height, "")
    scale = min(1.0, (max_width or width) / width)
    for _ in range(12):
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = original if size == (width, height) else original.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG", optimize=True)
        out = buffer.getvalue()
        if _uri_chars(len(out)) <= max_chars:
            what = "256 colours" + (f", scaled from {width} x {height} px" if size != (width, height) else "")
            return FittedPng(out, size[0], size[1], what)
        # The PNG's size grows about with the pixel count: shrink the area by the overshoot, with a margin.
        scale *= min(0.9, math.sqrt(max_chars / _uri_chars(len(out))) * 0.95)
        if width * scale < MIN_WIDTH:
            break
    raise ValueError(f"a PNG of {width} x {height} px cannot be made to fit {max_chars} characters")


def _alt(text: str) -> str:
    """Text safe inside markdown image brackets: one line, no brackets."""
    return " ".join(re.sub(r"[\[\]]+", " ", text).split()) or "figure"


def figure_markdown(png: bytes, title: str, description: str) -> tuple[str, str]:
    """A figure's artifact -> (markdown of its page: heading, full figure, description, size; one-line
    description with a preview image, for the artifact cards)."""
    figure = fit_png(png, MAX_FIGURE_CHARS)
    alt = _alt(title)
    size = f"{figure.width} x {figure.height} px PNG, {len(figure.png) // 1024} KB"
    if figure.reduced:
        size += f" ({figure.reduced} to fit the artifact's size budget)"
    body = f"### {title}\n\n![{alt}]({data_uri(figure.png)})\n\n" + (f"{description}\n\n" if description else "")
    body += f"*{size}; the full-size file is in the store.*\n"
    preview = fit_png(png, MAX_PREVIEW_CHARS, max_width=PREVIEW_WIDTH)
    card = " ".join((description or title).split()) + f" ![{alt} (preview)]({data_uri(preview.png)})"
    return body, card


def figure_artifact(key: str, png: bytes, title: str, description: str) -> Any:
    """Publish a figure as a markdown artifact both Prefect UIs display (call inside a flow or task run)."""
    from prefect.artifacts import create_markdown_artifact

    body, card = figure_markdown(png, title, description)
    return create_markdown_artifact(key=key, markdown=body, description=card)
