"""Files customers send (email attachments): what they are, what they may be called, where they live.

A file's type is decided by its name (or, without a known extension, its declared
content type) and must then be confirmed by its bytes: a ``.pdf`` that starts with
``MZ`` is an executable and is refused. Only the types in ``KEFU_FILE_TYPES`` are kept.
Kept files live in a private storage under ``KEFU_FILE_ROOT`` — never under
``MEDIA_ROOT``, which is served to anyone — with random names, and are served only
through permission-checked downloads (``file_response``) as attachments.
"""

from __future__ import annotations

import io
import os
import re
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse
from django.utils import timezone

from kefu.core.fields import strip_invalid

# Reasons a file was not kept, as the timeline shows them.
REFUSED_TYPE = "附件类型不支持"
REFUSED_SIZE = "附件过大"


@dataclass(frozen=True)
class FileType:
    key: str
    content_type: str
    label: str


# Every type kefu knows how to recognise; ``KEFU_FILE_TYPES`` chooses among them.
FILE_TYPES: dict[str, FileType] = {
    t.key: t
    for t in (
        FileType("pdf", "application/pdf", "PDF"),
        FileType("doc", "application/msword", "Word"),
        FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word"),
        FileType("xls", "application/vnd.ms-excel", "Excel"),
        FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel"),
        FileType("ppt", "application/vnd.ms-powerpoint", "PowerPoint"),
        FileType(
            "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint"
        ),
        FileType("txt", "text/plain", "文本"),
        FileType("csv", "text/csv", "CSV"),
        FileType("zip", "application/zip", "ZIP"),
    )
}
_BY_CONTENT_TYPE = {t.content_type: t.key for t in FILE_TYPES.values()} | {
    "application/x-zip-compressed": "zip",
    "application/vnd.ms-word": "doc",
}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The stream each legacy Office format keeps its content in (directory entries are UTF-16LE):
# an installer (.msi) or any other compound file renamed to .doc has none of them.
_OLE2_STREAMS = {
    "doc": ("WordDocument",),
    "xls": ("Workbook", "Book"),
    "ppt": ("PowerPoint Document",),
}
_OOXML_FOLDERS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06") and zipfile.is_zipfile(io.BytesIO(data))


def _zip_names(data: bytes) -> list[str]:
    # Only the central directory is read: nothing is decompressed, so a zip bomb costs nothing.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def bytes_are(key: str, data: bytes) -> bool:
    """Whether ``data`` really is a file of type ``key`` (by its magic bytes or structure)."""
    if key == "pdf":
        return data.startswith(b"%PDF-")
    if key in _OLE2_STREAMS:
        return data.startswith(_OLE2) and any(name.encode("utf-16-le") in data for name in _OLE2_STREAMS[key])
    if key in _OOXML_FOLDERS:
        if not data.startswith(b"PK\x03\x04"):
            return False
        names = _zip_names(data)
        return "[Content_Types].xml" in names and any(n.startswith(_OOXML_FOLDERS[key]) for n in names)
    if key == "zip":
        return _is_zip(data)
    if key in ("txt", "csv"):
        return _is_text(data)
    return False


def declared_type(name: str, content_type: str) -> str | None:
    """The type a file claims to be: its extension, else its declared content type."""
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    if ext:
        return ext if ext in FILE_TYPES else None
    return _BY_CONTENT_TYPE.get((content_type or "").split(";")[0].strip().lower())


def check_file_type(name: str, content_type: str, data: bytes) -> FileType | None:
    """The allowed type that ``data`` is, or None (not allowed, or the bytes are something else)."""
    key = declared_type(name, content_type)
    if key is None or key not in settings.KEFU_FILE_TYPES or not bytes_are(key, data):
        return None
    return FILE_TYPES[key]


def safe_filename(name: str, *, default: str = "附件", max_len: int = 120) -> str:
    """A file name fit to show and to offer on download: no folders, no control characters.

    Chinese names are kept; a long name is shortened in its stem so the extension stays.
    """
    name = strip_invalid(name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _CONTROL_RE.sub("", name).strip().lstrip(".").strip()
    if not name:
        return default
    if len(name) > max_len:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: max_len - len(ext)] + ext
    return name


@dataclass(frozen=True)
class IncomingFile:
    """A file that came with a customer's message: kept (``data``) or refused (``refused``)."""

    name: str
    content_type: str
    size: int
    data: bytes | None = None
    refused: str = ""


# --- storage -----------------------------------------------------------------------


class PrivateStorage(FileSystemStorage):
    """Files under ``KEFU_FILE_ROOT`` (read when used, so tests may move it); they have no URL."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(settings.KEFU_FILE_ROOT)

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("private files are served by a permission-checked view, not by URL")


_private_storage = PrivateStorage()


def private_storage() -> PrivateStorage:
    return _private_storage


def random_file_name(instance: Any, filename: str) -> str:
    """Where a kept file is stored: a random name (the customer's name is only shown)."""
    ext = os.path.splitext(filename)[1].lower()
    ext = ext if ext.lstrip(".") in FILE_TYPES else ""
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}{ext}"


IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


def random_image_name(instance: Any, filename: str) -> str:
    """Where a chat or email image is stored: ``chat/YYYY/MM/<random>.png``.

    Images are served under /media/ to the customer's chat without a login, so the name
    must not be guessable (「破损1.png」 was).
    """
    ext = os.path.splitext(filename)[1].lower()
    ext = ext if ext in IMAGE_EXTENSIONS else ""
    return f"chat/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{ext}"


# --- serving -------------------------------------------------------------------------


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one as RFC 5987 ``filename*``."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    fallback = fallback.strip() or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(fileobj: Any, *, name: str, content_type: str) -> FileResponse:
    """A download that a browser saves and never renders: attachment, nosniff, no scripts."""
    response = FileResponse(fileobj, content_type=content_type)
    response["Content-Disposition"] = content_disposition(name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
