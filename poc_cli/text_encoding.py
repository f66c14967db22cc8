"""Which encoding a text file's first bytes say it is in: the one hint every "cannot decode" error gives.

Windows tools save text with a byte-order mark: Notepad's "Unicode" is UTF-16 (FF FE), Excel's "CSV
UTF-8" starts with EF BB BF. A file whose mark names its encoding is told exactly that, instead of
a guess (Excel's Japanese "CSV" without a mark is cp932, the usual case where there is none).
"""

from __future__ import annotations

import codecs

# Longest first: UTF-32's little-endian mark begins with UTF-16's.
MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def marked(raw: bytes) -> str | None:
    """The encoding the byte-order mark at the start of `raw` names, or None where there is none."""
    return next((name for mark, name in MARKS if raw.startswith(mark)), None)


def hint(raw: bytes, encoding: str, field: str) -> str:
    """What to set `field` to for a file of bytes `raw` that `encoding` could not decode."""
    found = marked(raw)
    if found is not None and codecs.lookup(found).name != codecs.lookup(encoding).name:
        return f"; the file starts with a {found.upper()} byte-order mark: set {field}: {found}"
    if codecs.lookup(encoding).name == "utf-8":
        return f"; files saved as CSV by Excel in Japanese are cp932: set {field}: cp932"
    return f"; set {field} to the file's encoding"


def text_encoding_problem(name: str) -> str | None:
    """Why `name` cannot decode a text file (None: it can): unknown to Python, or a codec that is not a
    text encoding of bytes (rot13 maps text to text, base64 and zlib bytes to bytes)."""
    try:
        codecs.lookup(name)
    except LookupError:
        return f"{name!r} is not an encoding Python knows"
    try:
        b"\n\n\n\n".decode(name)  # an empty input would decode under any codec
    except LookupError:
        return f"{name!r} is a codec but not a text encoding (it does not turn a file's bytes into text)"
    except UnicodeError:  # a text encoding these four bytes are not valid in
        pass
    return None
