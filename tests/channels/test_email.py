"""Reading a customer's mail (kefu.channels.email): charsets, HTML-only mail, the plain part first.

Storing and threading mail is in ``test_services.py``, kefu's SMTP listener in
``test_smtp.py``, replies mailed through the relay in ``test_outbound.py``.
"""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage as MIMEMessage

from kefu.channels.email import parse_email
from tests.channels.mail import SUPPORT, make_mail


def test_gb2312_mail_with_encoded_word_subject_is_decoded() -> None:
    body = base64.b64encode("您好，发票抬头写错了，能重开吗？".encode("gb2312")).decode()
    raw = (
        "From: =?GB2312?B?wO7LxA==?= <lisi@example.cn>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: =?gb2312?B?t6LGsdbYv6o=?=\r\n"
        "Message-ID: <gb@example.cn>\r\n"
        "Content-Type: text/plain; charset=gb2312\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{body}\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.subject == "发票重开"
    assert parsed.from_name == "李四"
    assert parsed.from_address == "lisi@example.cn"
    assert parsed.text == "您好，发票抬头写错了，能重开吗？"


def test_gbk_characters_in_a_mail_labelled_gb2312_still_decode() -> None:
    # 镕 is in GBK but not in GB2312; mailers label such text gb2312 anyway.
    raw = (
        b"From: a@example.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
        + "朱镕基路的门店".encode("gbk")
    )
    assert parse_email(raw).text == "朱镕基路的门店"


def test_html_only_mail_is_stored_as_text_without_markup() -> None:
    raw = make_mail(
        html="<html><style>p{color:red}</style><body><p>退货&amp;退款</p><p>订单 A123</p></body></html>"
    )
    assert parse_email(raw).text == "退货&退款\n\n订单 A123"


def test_plain_part_is_preferred_over_html() -> None:
    msg = MIMEMessage(policy=email.policy.SMTP)
    msg["From"] = "c@example.com"
    msg["Subject"] = "hi"
    msg.set_content("纯文本内容")
    msg.add_alternative("<p>HTML 内容</p>", subtype="html")
    assert parse_email(msg.as_bytes()).text == "纯文本内容"
