"""kefu.core.files: a file's type is its name's claim confirmed by its bytes; names made safe; downloads never render."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from kefu.core.files import FILE_TYPES, check_file_type, content_disposition, file_response, safe_filename

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def _zip(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in names:
            z.writestr(name, "x")
    return out.getvalue()


def _ole(stream: str) -> bytes:
    return OLE2 + stream.encode("utf-16-le") + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "declared", "data", "expected"),
    [
        ("发票.pdf", "application/pdf", PDF, "pdf"),
        ("发票.PDF", "application/octet-stream", PDF, "pdf"),
        ("发票", "application/pdf", PDF, "pdf"),  # no extension: the declared type is the claim
        ("合同.doc", "application/msword", _ole("WordDocument"), "doc"),
        ("报价.xls", "application/vnd.ms-excel", _ole("Workbook"), "xls"),
        ("方案.ppt", "application/vnd.ms-powerpoint", _ole("PowerPoint Document"), "ppt"),
        ("退货单.docx", "application/octet-stream", _zip("[Content_Types].xml", "word/document.xml"), "docx"),
        ("账单.xlsx", "application/octet-stream", _zip("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
        (
            "汇报.pptx",
            "application/octet-stream",
            _zip("[Content_Types].xml", "ppt/presentation.xml"),
            "pptx",
        ),
        ("照片合集.zip", "application/zip", _zip("a.jpg"), "zip"),
        ("说明.txt", "text/plain", "退货地址：上海市".encode(), "txt"),
        ("订单.csv", "text/csv", "订单号,金额\nYJ001,438.00\n".encode("gb18030"), "csv"),
    ],
)
def test_allowed_files_whose_bytes_confirm_their_type_are_kept(
    name: str, declared: str, data: bytes, expected: str
) -> None:
    assert check_file_type(name, declared, data) == FILE_TYPES[expected]


@pytest.mark.parametrize(
    ("name", "declared", "data"),
    [
        ("发票.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 60),  # an executable
        ("发票.pdf", "application/pdf", _zip("[Content_Types].xml", "word/document.xml")),
        ("合同.doc", "application/msword", _ole("Installer")),  # an .msi renamed .doc
        ("合同.doc", "application/msword", PDF),
        ("退货单.docx", "application/octet-stream", _zip("a.txt")),  # a zip, not a Word file
        ("照片合集.zip", "application/zip", b"PK\x03\x04broken"),
        ("说明.txt", "text/plain", b"MZ\x90\x00\x03\x00\x00\x00"),  # NUL bytes: not text
        ("安装.exe", "application/pdf", PDF),  # the extension is the claim, and exe is not allowed
        ("页面.html", "text/html", b"<script>alert(1)</script>"),
        ("无名", "application/x-msdownload", b"MZ"),
    ],
)
def test_files_of_other_types_or_whose_bytes_disagree_are_refused(
    name: str, declared: str, data: bytes
) -> None:
    assert check_file_type(name, declared, data) is None


def test_a_type_left_out_of_the_setting_is_refused(settings: Any) -> None:
    settings.KEFU_FILE_TYPES = ("pdf",)
    assert check_file_type("照片合集.zip", "application/zip", _zip("a.jpg")) is None
    assert check_file_type("发票.pdf", "application/pdf", PDF) is not None


def test_the_setting_knows_exactly_the_recognised_types() -> None:
    from kefu import settings as kefu_settings

    assert set(kefu_settings._KNOWN_FILE_TYPES) == set(FILE_TYPES)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("发票.pdf", "发票.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\李雷\\退货单.docx", "退货单.docx"),
        (".htaccess", "htaccess"),
        ("a\x00b\r\n.txt", "ab.txt"),
        ("", "附件"),
        ("../", "附件"),
        ("很长" * 100 + ".xlsx", "很长" * 57 + "很.xlsx"),
    ],
)
def test_file_names_lose_folders_and_control_characters_and_keep_chinese(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe
    assert len(safe_filename(raw)) <= 120


def test_downloads_are_attachments_with_an_rfc5987_name_and_never_sniffed() -> None:
    assert content_disposition('发票 "2026".pdf') == (
        "attachment; filename=\"__ _2026_.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8%20%222026%22.pdf"
    )
    response = file_response(io.BytesIO(PDF), name="发票.pdf", content_type="application/pdf")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
