"""Helpers for error messages that name the problem in one line."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    lines = str(error).splitlines()
    return lines[0] if lines and lines[0].strip() else type(error).__name__
