"""Text from people and outside systems: cleaned where it enters the domain, made safe where it reaches a PDF.

`clean_text` is applied where a payer's or recipient's data is accepted; `printable` (text drawn as is)
and `markup` (text inside reportlab's paragraph markup) where any text is put on a PDF page, so rows
stored before cleaning existed, and text from other sources, still render as the literal text.
"""

from __future__ import annotations

import re
import unicodedata
from xml.sax.saxutils import escape

from core.errors import InvalidInput

# Line and tab controls become a space in single-line text (a tab between two words must not join them).
_BREAKS = re.compile("[\t\n\v\f\r\x85\u2028\u2029]")
_NEWLINES = re.compile("\r\n|[\r\u2028\u2029]")
# Everything else that is not text: C0 and C1 controls and DEL (PostgreSQL refuses a NUL, XML refuses
# most of them, reportlab draws them as boxes or breaks); lone surrogates ("\ud800" is valid JSON but no
# encoder accepts it); the bidi embedding, override and isolate marks, which can show a name reversed;
# and the byte order mark.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_MARKUP_ESCAPES = {'"': "&quot;", "'": "&#39;"}


def clean_text(value: object, max_length: int, *, field: str = "value", multiline: bool = False,
               required: bool = False, errors: dict[str, list[str]] | None = None) -> str | None:
    """The value as stored: controls removed, NFC, runs of spaces collapsed and the ends trimmed.

    Markup characters (< > &) are kept: they are a person's input and are escaped on output. Newlines
    survive only when `multiline`. A value longer than `max_length` once cleaned is refused (InvalidInput
    naming `field`) rather than cut short; so is an empty one when `required`. None stays None.
    With `errors`, a refusal is added there and None returned instead, so a caller names every bad field.
    """
    if errors is not None:
        try:
            return clean_text(value, max_length, field=field, multiline=multiline, required=required)
        except InvalidInput as e:
            errors.update(e.errors)
            return None
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required", errors={field: [f"Bắt buộc, tối đa {max_length} ký tự."]})
        return None
    text = str(value)
    if multiline:
        lines = _NEWLINES.sub("\n", text).split("\n")
        text = "\n".join(_BREAKS.sub(" ", line) for line in lines)
    else:
        text = _BREAKS.sub(" ", text)
    # Controls go before composing, so a stray control between a letter and its tone mark does not
    # keep them apart.
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    text = _SPACES.sub(" ", text)
    if multiline:
        text = "\n".join(line.strip() for line in text.split("\n"))
    text = text.strip()
    if required and not text:
        raise InvalidInput(f"{field} is required", errors={field: [f"Bắt buộc, tối đa {max_length} ký tự."]})
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters",
                           errors={field: [f"Tối đa {max_length} ký tự (đang có {len(text)})."]})
    return text


def printable(value: object) -> str:
    """Text for a PDF drawn as is (canvas strings, table cells): no controls, composed (NFC), one line."""
    if value is None:
        return ""
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", _BREAKS.sub(" ", str(value))))


def markup(value: object) -> str:
    """Text to put inside reportlab paragraph markup: printable, with & < > and quotes escaped.

    reportlab parses a Paragraph's text as markup: an unescaped `<img src=...>` embeds a file of the
    server, an unknown tag is an error. Every outside value goes through here, never straight in.
    """
    return escape(printable(value), _MARKUP_ESCAPES)


def content_disposition(filename: object, *, inline: bool = False) -> str:
    """A Content-Disposition header for a download whose name holds outside text (a dossier code, a code).

    Quotes, backslashes, control characters or Vietnamese letters in a bare `filename="..."` break the
    header or go out as bytes that are not Latin-1; the name is sent twice instead (RFC 6266): an ASCII
    fallback without diacritics, and the exact name UTF-8 encoded in `filename*` (RFC 5987).
    """
    from urllib.parse import quote

    name = printable(filename).replace("/", "-").replace("\\", "-") or "download"
    ascii_name = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_name = "".join(c for c in ascii_name if c.isascii() and c not in '"%;' and (c.isalnum() or c in " ._-()"))
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{ascii_name or 'download'}\"; filename*=UTF-8''{quote(name, safe='')}"
