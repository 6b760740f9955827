"""Email helpers: parsing customer mail and building threaded replies.

Threading uses the standard headers: replies carry ``In-Reply-To``/``References``
naming the ``Message-ID`` of earlier mail, which kefu stores as ``Message.external_id``
for incoming mail and for the replies it sends. Pure helpers (bytes in, strings out):
the listener is :mod:`kefu.channels.smtp`, storing is ``channels.services.do_receive_email``.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage as MIMEMessage
from html.parser import HTMLParser
from typing import Any

from django.core.mail import EmailMessage, make_msgid

from kefu.core.fields import strip_invalid
from kefu.core.files import safe_filename

MAX_REFERENCES = 20
_MSGID_RE = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX_RE = re.compile(r"^\s*((re|aw|fwd?|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)
# Where a mail client starts quoting the mail being answered.
_QUOTE_MARKERS = (
    re.compile(r"^-{2,}\s*(original message|原始邮件|回复的原邮件)\s*-{2,}", re.IGNORECASE),
    re.compile(r"^On .{5,200} wrote:\s*$"),
    re.compile(r"^在 .{5,200}(写道|寫道)[:：]\s*$"),
    re.compile(r"^(发件人|From)\s*[:：]", re.IGNORECASE),
)
# Labels some Chinese mailers still declare, mapped to the superset that decodes them all.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "big5": "big5hkscs",
}


@dataclass(frozen=True)
class Attachment:
    """A file that came with a mail (an attachment, or an inline image)."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedEmail:
    message_id: str
    subject: str
    from_address: str
    from_name: str
    text: str
    to: list[str] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    auto_submitted: bool = False
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Earlier Message-IDs this mail answers, nearest first."""
        seen: dict[str, None] = {}
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            seen.setdefault(mid, None)
        return list(seen)[:MAX_REFERENCES]


# --- decoding ---------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then GB18030; never raise."""
    candidates = []
    for name in (charset, "utf-8", "gb18030"):
        if not name:
            continue
        name = _CHARSET_ALIASES.get(name.strip().lower(), name.strip().lower())
        if name not in candidates:
            candidates.append(name)
    for name in candidates:
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(raw: str) -> str:
    """A header as people read it: encoded words decoded, folding undone."""
    raw = re.sub(r"\r?\n[ \t]+", " ", raw).strip()
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # Raw 8-bit bytes in a header (no encoded words): the parser kept them as
        # surrogates; guess the charset as for bodies.
        return decode_bytes(raw.encode("ascii", "surrogateescape"), None).strip()
    try:
        chunks = email.header.decode_header(raw)
    except Exception:  # a malformed encoded word: show it as it came
        return raw
    parts = []
    for chunk, charset in chunks:
        parts.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(parts).strip()


def _raw_header(msg: MIMEMessage, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def parse_msgids(value: str) -> list[str]:
    """Message-IDs in a header value, with their angle brackets."""
    found = _MSGID_RE.findall(value or "")
    if not found and value and value.strip() and not any(c.isspace() for c in value.strip()):
        found = [f"<{value.strip().strip('<>')}>"]
    return [mid for mid in found if len(mid) <= 255]


class _TextFromHTML(HTMLParser):
    """Visible text of an HTML mail body: tags dropped, blocks on their own lines."""

    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"}
    )
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextFromHTML()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\u00a0\u3000]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted_reply(text: str) -> str:
    """Drop the quoted earlier mail below a reply; keep everything if nothing is left."""
    kept: list[str] = []
    for line in text.splitlines():
        if any(marker.match(line.strip()) for marker in _QUOTE_MARKERS):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    stripped = "\n".join(kept).strip()
    return stripped or text.strip()


def _part_text(part: MIMEMessage) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def body_text(msg: MIMEMessage) -> str:
    """text/plain preferred; HTML turned into text otherwise."""
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        text = _part_text(plain)  # type: ignore[arg-type]
        if text.strip():
            return text.replace("\r\n", "\n").strip()
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(_part_text(html))  # type: ignore[arg-type]
    return ""


def _filename(part: MIMEMessage) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # a malformed parameter: the file still counts
        name = ""
    # RFC 2231 (filename*=) is decoded by the parser; encoded words (=?GBK?B?…?=), which many
    # Chinese mailers put in the plain parameter, are decoded here. Folders are dropped.
    return safe_filename(decode_header_value(name))


def _has_name(part: MIMEMessage) -> bool:
    try:
        return bool(part.get_filename())
    except Exception:
        return False


def attachments_of(msg: MIMEMessage) -> list[Attachment]:
    """Every attached file and inline image, in order (the body's text parts are not files)."""
    found = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        # Some mailers send a PDF "inline" with a name: a named non-text part is a file too.
        named_inline = disposition == "inline" and not content_type.startswith("text/") and _has_name(part)
        if disposition != "attachment" and not content_type.startswith("image/") and not named_inline:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found.append(Attachment(_filename(part), content_type, payload))  # type: ignore[arg-type]
    return found


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse a whole RFC 5322 message."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, MIMEMessage)
    ids = parse_msgids(_raw_header(msg, "Message-ID"))
    # Without a Message-ID the bytes themselves identify the mail, so a relay's
    # resend of the same message is still stored once.
    message_id = ids[0] if ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@kefu.invalid>"
    name, address = email.utils.parseaddr(re.sub(r"\r?\n[ \t]+", " ", _raw_header(msg, "From")))
    to = [
        addr.lower()
        for _, addr in email.utils.getaddresses([_raw_header(msg, "To"), _raw_header(msg, "Cc")])
        if addr
    ]
    auto = _raw_header(msg, "Auto-Submitted").strip().lower()
    # Mail cannot be asked again: characters no text may hold are dropped, not refused.
    return ParsedEmail(
        message_id=strip_invalid(message_id),
        subject=strip_invalid(decode_header_value(_raw_header(msg, "Subject"))),
        from_address=strip_invalid(address.strip().lower()),
        from_name=strip_invalid(decode_header_value(name)) if name else "",
        text=strip_invalid(body_text(msg)),
        to=[strip_invalid(a) for a in to],
        in_reply_to=[strip_invalid(m) for m in parse_msgids(_raw_header(msg, "In-Reply-To"))],
        references=[strip_invalid(m) for m in parse_msgids(_raw_header(msg, "References"))[-MAX_REFERENCES:]],
        auto_submitted=bool(auto) and auto != "no",
        attachments=attachments_of(msg),
    )


# --- replies ----------------------------------------------------------------------


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` without piling up prefixes."""
    base = _REPLY_PREFIX_RE.sub("", subject or "").strip()
    return f"Re: {base}" if base else "Re: 您的咨询"


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or None
    return make_msgid(domain=domain)


def format_address(name: str, address: str) -> str:
    """``"名称" <addr>`` quoted as RFC 5322 wants it (the policy encodes non-ASCII)."""
    if not name:
        return address
    local, _, domain = address.partition("@")
    return str(Address(display_name=name, username=local, domain=domain))


def build_reply(
    *,
    subject: str,
    body: str,
    from_email: str,
    to: str,
    message_id: str,
    in_reply_to: str | None,
    references: list[str],
    auto: bool = False,
) -> EmailMessage:
    """An agent's reply threaded under the customer's mail."""
    headers = {"Message-ID": message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    if references:
        headers["References"] = " ".join(references[-MAX_REFERENCES:])
    if auto:
        # RFC 3834: tells out-of-office responders not to answer a machine.
        headers["Auto-Submitted"] = "auto-replied"
    return EmailMessage(subject=subject, body=body, from_email=from_email, to=[to], headers=headers)


# --- the SMTP listener --------------------------------------------------------------
