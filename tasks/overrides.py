"""Dotted-key overrides of the pipeline's config (``--set train.epochs=5``), with one-line errors.

Used by the CLI and the tests; the models themselves are :mod:`tasks.config`.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from tasks.config import PipelineConfig


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def describe_errors(error: ValidationError, overrides: dict[str, Any] | None = None) -> str:
    """A pydantic error -> one line per problem naming the key, the value given and the rule broken."""
    lines = []
    for item in error.errors():
        key = _dotted(item["loc"])
        value = (overrides or {}).get(key, item.get("input"))
        shown = f" = {value!r}" if key and not isinstance(value, dict) else ""
        lines.append(f"{key or 'config'}{shown}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def _known_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in data.items():
        keys.append(prefix + name)
        if isinstance(value, dict):
            keys += _known_keys(value, f"{prefix}{name}.")
    return keys


def apply_overrides(config: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Return a copy of ``config`` with dotted-key overrides, e.g. ``{"train.epochs": 5}``.

    A section may be given as a whole dict, merged into it (``{"train": {"epochs": 5}}``). Values
    are validated by the models; an unknown key or a bad value raises ``ValueError`` whose one-line
    message names the key, the value and the rule.
    """
    data = config.model_dump()
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        known = True
        for part in parents:
            if not isinstance(node.get(part), dict):
                known = False
                break
            node = node[part]
        if not known or leaf not in node:
            close = difflib.get_close_matches(dotted, _known_keys(data), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown config key {dotted!r}{hint}")
        if isinstance(node[leaf], dict):
            if not isinstance(value, dict):
                fields = ", ".join(f"{dotted}.{name}" for name in list(node[leaf])[:4])
                raise ValueError(f"{dotted} is a section, not a value; set its fields ({fields}, ...) or give a JSON "
                                 "object")  # fmt: skip
            node[leaf] = node[leaf] | value
        else:
            node[leaf] = value
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc, overrides)) from None
