"""The one checker for text that people type: every app's string fields go through it.

``check_text`` takes the value from a form, a JSON body or a socket frame and returns
clean text or raises ``InvalidInput`` naming the field, with the same wording
everywhere (``{field: "不能为空"}``, ``{field: "最多 N 个字符"}``).

Characters no text may carry are refused here, at the boundary, with a 400 naming the
field, rather than stored: NUL and the other C0 control characters except tab and line
breaks (a database error on PostgreSQL, invisible in every UI), and lone UTF-16
surrogates from broken clients (they cannot be encoded as UTF-8 at all). A refusal is
final, so no client retries it. The REST API (``core.apiutil.BoundaryParser``), both
websockets (``JsonSocket.receive``) and the platform webhook check whole requests with
``check_json``; inbound email alone is cleaned instead (``strip_invalid``), because a
refused mail would bounce (docs/api.md, "Text").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from kefu.core.errors import InvalidInput
from kefu.core.labels import FIELD_LABELS

# C0 controls but \t \n \r, DEL, and lone surrogates (never valid in stored text).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _label(field: str, default: str) -> str:
    return FIELD_LABELS.get(field) or FIELD_LABELS.get(field.rsplit(".", 1)[-1]) or default


def check_characters(value: str, *, field: str) -> str:
    """``value``, unless it holds a control character or a lone surrogate (``InvalidInput``)."""
    if value.isprintable():  # the common case costs one C-level scan
        return value
    if _INVISIBLE.search(value) or _SURROGATE.search(value):
        raise InvalidInput(f"{_label(field, field)}含有无效字符", fields={field: "不能包含控制字符"})
    return value


def check_querydict(data: Any, *, name_field: str | None = None, width: int | None = None) -> None:
    """``check_characters`` for every name and string value of a query or form ``MultiValueDict``:
    a value is named by its field's name (its first ``width`` characters, if given), a bad name
    by ``name_field`` (default: the name itself)."""
    for key, values in data.lists():
        check_characters(key, field=name_field or key)
        for value in values:
            if isinstance(value, str):
                check_characters(value, field=key[:width])


def check_data(value: Any, *, field: str) -> Any:
    """``check_characters`` for every string (keys included) in decoded JSON."""
    if isinstance(value, str):
        return check_characters(value, field=field)
    if isinstance(value, dict):
        return {check_data(k, field=field): check_data(v, field=field) for k, v in value.items()}
    if isinstance(value, list):
        return [check_data(v, field=field) for v in value]
    return value


def strip_invalid(value: str) -> str:
    """``value`` without control characters, lone surrogates replaced by U+FFFD.

    For text relayed by machines that cannot be asked again (inbound email): refusing
    a mail would bounce the customer's whole message for one stray byte.
    """
    if value.isprintable():
        return value
    return _SURROGATE.sub("\ufffd", _INVISIBLE.sub("", value))


def check_json(value: Any, *, field: str = "") -> None:
    """``check_characters`` over decoded JSON; a refusal names the path (``items.2.name``).

    The API's body parser and query parser call it for every request, so no string
    with a control character or a lone surrogate reaches a service.
    """
    if isinstance(value, str):
        check_characters(value, field=field or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            check_characters(name, field=field or "body")
            check_json(item, field=f"{field}.{name}" if field else name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, field=f"{field}.{i}" if field else str(i))


def check_text(
    value: Any,
    *,
    field: str,
    max_len: int,
    label: str | None = None,
    required: bool = True,
    strip: bool = True,
) -> str:
    """Clean text of at most ``max_len`` characters; ``None`` is empty.

    ``label`` is how the field is called in the message shown to people (by default its
    name in ``core.labels``, else 「内容」); ``strip=False`` keeps surrounding white
    space (a draft being typed).
    """
    label = label or _label(field, "内容")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label}必须是文字", fields={field: "必须是字符串"})
    value = check_characters(value, field=field)
    if strip:
        value = value.strip()
    if required and not value.strip():
        raise InvalidInput(f"{label}不能为空", fields={field: "不能为空"})
    if len(value) > max_len:
        raise InvalidInput(f"{label}过长（最多 {max_len} 字）", fields={field: f"最多 {max_len} 个字符"})
    return value


def check_message(value: Any, *, field: str = "text", required: bool = True) -> str:
    """Message text (a reply, a customer message, a note): at most ``KEFU_MAX_MESSAGE_CHARS``."""
    return check_text(
        value, field=field, max_len=settings.KEFU_MAX_MESSAGE_CHARS, label=None, required=required
    )


def check_text_list(
    value: Any, *, field: str, max_items: int, max_len: int, label: str | None = None
) -> list[str]:
    """A list of short texts: stripped, blanks dropped, duplicates removed in order."""
    label = label or _label(field, "列表")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{label}必须是文字列表", fields={field: "必须是字符串列表"})
    cleaned = list(dict.fromkeys(v for v in (check_characters(v, field=field).strip() for v in value) if v))
    if len(cleaned) > max_items or any(len(v) > max_len for v in cleaned):
        raise InvalidInput(
            f"{label}过多或过长", fields={field: f"最多 {max_items} 项，每项最多 {max_len} 个字符"}
        )
    return cleaned


def check_choice(
    value: Any, choices: Iterable[str], *, field: str, label: str | None = None, blank: bool = False
) -> str:
    """One of ``choices`` (``blank`` also allows the empty string and ``None``)."""
    label = label or _label(field, "选项")
    options = list(choices)
    if blank and value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in options:
        raise InvalidInput(
            f"{label}无效",
            fields={field: f"应为 {', '.join(o for o in options if o)} 之一" + ("或留空" if blank else "")},
        )
    return value


# A mainland mobile (optionally +86 / 86), or a landline with its area code; spaces and
# dashes people type between the groups are dropped before the check.
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_LANDLINE = re.compile(r"(0\d{2,3})(\d{7,8})")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")


def check_phone(value: Any, *, field: str = "phone", required: bool = False) -> str:
    """A phone number people can be called back on: ``13812345678`` or ``010-12345678``."""
    text = check_text(value, field=field, max_len=32, label="手机号", required=required)
    if not text:
        return ""
    digits = _PHONE_SEPARATORS.sub("", text)
    if m := _MOBILE.fullmatch(digits):
        return m.group(1)
    if m := _LANDLINE.fullmatch(digits):
        return f"{m.group(1)}-{m.group(2)}"
    raise InvalidInput(
        "手机号格式不正确",
        fields={field: "请填写11位手机号（如 13812345678）或带区号的固定电话（如 010-12345678）"},
    )


def check_email(value: Any, *, field: str = "email", required: bool = False) -> str:
    """An email address a reply can be sent to (lower-cased domain)."""
    text = check_text(value, field=field, max_len=254, label="邮箱", required=required)
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError as exc:
        raise InvalidInput(
            "邮箱格式不正确", fields={field: "请填写有效的邮箱地址，如 name@example.com"}
        ) from exc
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"
