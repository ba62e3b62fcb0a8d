"""The text encoding of an export: UTF-8 (BOM or not), UTF-16, GB18030, tried strictly."""

from __future__ import annotations

import codecs

from hazmon.acquisition.datalog.errors import DatalogError


def _decode(raw: bytes, source: str, encoding: str | None) -> tuple[str, str]:
    """The text of a file and the encoding it was read in."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise DatalogError(
                source, [f"not {encoding} text as the profile says: {error}"]
            ) from error
    if raw.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif raw[1:200:2].count(0) > 40:
        candidates = ["utf-16-le"]
    elif raw[0:200:2].count(0) > 40:
        candidates = ["utf-16-be"]
    else:
        candidates = ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            text = raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return text, {"utf-8-sig": "utf-8 (BOM)", "gb18030": "gb18030 (GBK)"}.get(
            candidate, candidate
        )
    raise DatalogError(
        source,
        [
            "the text is neither UTF-8, UTF-16 nor GB18030/GBK; save it as UTF-8 CSV, or "
            'name the encoding in a --datalog-profile ([read] encoding = "...")'
        ],
    )
