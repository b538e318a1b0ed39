"""Validation rules shared by the aggregates. Pure functions raising ValidationError."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping

from domain.errors import ValidationError

NAME_MAX = 64
DESCRIPTION_MAX = 2000
TAG_KEY_MAX = 127
TAG_VALUE_MAX = 255
TAGS_MAX = 50
METRIC_NAME_MAX = 64
METRICS_MAX = 100
FRAMEWORK_MAX = 64

# Characters a reader cannot see, or that change the order in which the others are shown:
# controls (Cc: NUL, tab, newline, DEL, the C1 range), format characters (Cf: the
# bidirectional controls such as U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces and
# joiners, U+FEFF), line and paragraph separators (Zl, Zp) and lone surrogates (Cs, which
# no database can store). A name holding one can pass for another name.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that is invisible or reorders what is shown, as
    ``U+202E (RIGHT-TO-LEFT OVERRIDE)``; None when there is none."""
    if text.isascii() and text.isprintable():
        return None  # the common case, decided without a lookup per character
    for char in text:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            name = unicodedata.name(char, "")  # controls have none
            return f"U+{ord(char):04X} ({name})" if name else f"U+{ord(char):04X}"
    return None


def check_visible(text: str, field: str) -> str:
    """``text`` when every character of it can be seen; ValidationError otherwise."""
    found = hidden_character(text)
    if found is not None:
        raise ValidationError(field, f"must not contain invisible or control characters: {found}")
    return text


def clean_name(name: str, field: str = "name") -> str:
    """Trimmed display name. 1-64 characters after trimming, none of them invisible (see
    :func:`hidden_character`)."""
    if not isinstance(name, str):
        raise ValidationError(field, "must be a string")
    cleaned = name.strip()
    if not cleaned:
        raise ValidationError(field, "must not be empty or only spaces")
    if len(cleaned) > NAME_MAX:
        raise ValidationError(
            field, f"must be at most {NAME_MAX} characters after trimming (got {len(cleaned)})"
        )
    return check_visible(cleaned, field)


def name_key(name: str) -> str:
    """What uniqueness is decided on: names differing only in case or surrounding spaces
    are the same name."""
    return clean_name(name).casefold()


def clean_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationError("description", f"must be at most {DESCRIPTION_MAX} characters")
    return text


def clean_tags(tags: Mapping[str, object] | list[tuple[object, object]]) -> dict[str, str]:
    """Cloud-style tags: key 1-127 characters, value 0-255, at most 50, keys unique."""
    pairs = list(tags.items()) if isinstance(tags, Mapping) else list(tags)
    if len(pairs) > TAGS_MAX:
        raise ValidationError("tags", f"at most {TAGS_MAX} tags per model (got {len(pairs)})")
    cleaned: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise ValidationError("tags", "tag keys must be strings")
        if not isinstance(value, str):
            raise ValidationError("tags", f"tag {key!r}: value must be a string")
        k = key.strip()
        if not 1 <= len(k) <= TAG_KEY_MAX:
            raise ValidationError("tags", f"tag keys must be 1-{TAG_KEY_MAX} characters")
        found = hidden_character(k) or hidden_character(value)
        if found is not None:
            raise ValidationError(
                "tags", f"tag {k!r}: must not contain invisible or control characters: {found}"
            )
        if len(value) > TAG_VALUE_MAX:
            raise ValidationError(
                "tags", f"tag {k!r}: value must be at most {TAG_VALUE_MAX} characters"
            )
        if k in cleaned:
            raise ValidationError("tags", f"tag key {k!r} is given twice")
        cleaned[k] = value
    return cleaned


def clean_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    if len(metrics) > METRICS_MAX:
        raise ValidationError("metrics", f"at most {METRICS_MAX} metrics")
    cleaned: dict[str, float] = {}
    for key, value in metrics.items():
        k = key.strip() if isinstance(key, str) else ""
        if not 1 <= len(k) <= METRIC_NAME_MAX:
            raise ValidationError("metrics", f"metric names must be 1-{METRIC_NAME_MAX} characters")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("metrics", f"metric {k!r} must be a number")
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError("metrics", f"metric {k!r} must be a finite number")
        cleaned[k] = number
    return cleaned


def metric_pairs(pairs: list[tuple[str, float]]) -> dict[str, float]:
    """Metrics given as (name, value) pairs; a name given twice is refused."""
    found: dict[str, float] = {}
    for name, value in pairs:
        if name in found:
            raise ValidationError("metrics", f"metric {name!r} is given twice")
        found[name] = value
    return found


def clean_framework(framework: str | None, default: str) -> str:
    text = (framework or "").strip() or default
    if len(text) > FRAMEWORK_MAX:
        raise ValidationError("framework", f"must be at most {FRAMEWORK_MAX} characters")
    return text
