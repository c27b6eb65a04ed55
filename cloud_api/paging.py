"""Opaque cursors for the lists keyed by an integer (audit ``seq``, window ``id``, registry offset).

>>> decode_int_cursor(encode_int_cursor(42))
42
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from fastapi import Query
from fastapi.exceptions import RequestValidationError

__all__ = ["encode_int_cursor", "decode_int_cursor", "Limit", "Cursor", "invalid"]

_MAX: Final = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def invalid(name: str, message: str, value: object, where: str = "query") -> RequestValidationError:
    """A validation error shaped like FastAPI's own, so it becomes the same 422 problem."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, name), "msg": message, "input": value}]
    )


def encode_int_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"n:{value}".encode()).decode().rstrip("=")


def decode_int_cursor(cursor: str | None) -> int | None:
    """``None`` for no cursor; a 422 :class:`RequestValidationError` for one this API did not make."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "n" or not number.isdigit() or int(number) > _MAX:
        raise invalid("cursor", "not a cursor returned by this API", cursor)
    return int(number)
