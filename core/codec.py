"""The frame codec: JSON text to the typed messages of :mod:`core.protocol` and back.

:func:`parse_client_frame` and :func:`parse_server_frame` check every field at the boundary
against the message dataclasses' type hints and field metadata (``max_len``, ``min_len``,
``min``/``max`` for numbers, ``choices``, ``base64url`` for text of that alphabet only;
``limit_error``: the code a value outside those gets, and ``error``: the code any bad value
of the field gets, instead of ``bad_message``),
and raise :class:`~core.protocol.ProtocolError` and nothing else. :func:`serialize` turns any
message into JSON text that always encodes as UTF-8. Unknown keys are ignored; an unknown
``type`` is ``unknown_type``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from core.protocol import (
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    ClientMessage,
    ErrorCode,
    ProtocolError,
    ServerMessage,
)

__all__ = ["parse_client_frame", "parse_server_frame", "serialize"]

_CLIENT_TYPES: dict[str, type[Any]] = {c.TYPE: c for c in typing.get_args(ClientMessage)}
_SERVER_TYPES: dict[str, type[Any]] = {c.TYPE: c for c in typing.get_args(ServerMessage)}

# --------------------------------------------------------------------------- (de)serialising

_T = TypeVar("_T")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BASE64URL = re.compile("[A-Za-z0-9_-]*", re.ASCII)  # RFC 4648 section 5, without padding


def serialize(message: ClientMessage | ServerMessage) -> str:
    """The JSON text of one frame; always valid UTF-8 when encoded.

    The parser refuses lone surrogates, but text also reaches frames from elsewhere (the AI
    provider's JSON may hold ``"\\ud800"``): any that slipped through become U+FFFD here, so
    no single value can make a frame unsendable for everyone.
    """
    text = json.dumps(_to_json(message), ensure_ascii=False, separators=(",", ":"))
    if _is_unicode_text(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def _is_unicode_text(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8, i.e. holds no lone surrogate (U+D800-U+DFFF)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        type_name = getattr(value, "TYPE", None)
        if type_name is not None:
            out["type"] = type_name
        for f in dataclasses.fields(value):
            out[f.name] = _to_json(getattr(value, f.name))
        return out
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


def parse_client_frame(frame: str | bytes) -> ClientMessage:
    """Parse a frame a client sent. Raises :class:`ProtocolError` for anything unacceptable."""
    return typing.cast(ClientMessage, _parse(frame, _CLIENT_TYPES))


def parse_server_frame(frame: str | bytes) -> ServerMessage:
    """Parse a frame a server sent. Raises :class:`ProtocolError` for anything unacceptable."""
    return typing.cast(ServerMessage, _parse(frame, _SERVER_TYPES))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLarge
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NumberTooLarge
    return value


def _bounded_int(text: str) -> int:
    # Checked on the digits, before Python converts them: a 4,300-digit integer is valid JSON
    # but no field of ours can hold it, and converting it costs time quadratic in its length.
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLarge
    return int(text)


class _NumberTooLarge(ValueError):
    pass


def _shown(value: object, limit: int = 40) -> str:
    """A short, printable echo of a client's value for an error text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse(frame: str | bytes, registry: Mapping[str, type[Any]]) -> Any:
    if not isinstance(frame, str):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frames must be JSON text, not binary")
    try:
        obj = json.loads(
            frame,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _NumberTooLarge:
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"the frame holds a number longer than {MAX_NUMBER_CHARS} characters",
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"frame is not valid JSON: {reason[:80]}"
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "a frame must be a JSON object")
    type_name = obj.get("type")
    if not isinstance(type_name, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a frame needs a string 'type'")
    cls = registry.get(type_name)
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {_shown(type_name)}")
    ref = obj.get("id")
    if not isinstance(ref, str) or len(ref) > MAX_ID_CHARS or not _is_unicode_text(ref):
        ref = None  # echoed back to the client only when it is a valid id
    try:
        return _build(cls, obj, type_name)
    except _FieldError as exc:
        raise ProtocolError(exc.code, f"{type_name}: {exc}", ref=ref) from None


class _FieldError(Exception):
    """A field that cannot be accepted; ``code`` is ``bad_message`` unless the field's
    metadata names another (``"error"``)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_MESSAGE) -> None:
        super().__init__(message)
        self.code = code


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _build(cls: type[_T], obj: Mapping[str, Any], path: str) -> _T:
    """Build dataclass ``cls`` from ``obj``, checking each field; unknown keys are ignored."""
    kwargs: dict[str, Any] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        where = f"{path}.{f.name}"
        if f.name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _FieldError(f"missing field {where!r}")
            continue
        try:
            value = _coerce(obj[f.name], hints[f.name], where)
            if value is not None:
                _check_limits(value, f.metadata, where)
        except _FieldError as exc:
            code = f.metadata.get("error")
            if code is None or exc.code != ErrorCode.BAD_MESSAGE:
                raise
            raise _FieldError(str(exc), code) from None
        kwargs[f.name] = value
    return cls(**kwargs)


def _check_limits(value: Any, limits: Mapping[str, Any], where: str) -> None:
    """The limits a field's metadata sets: lengths of strings, ranges of numbers, choices.
    A value outside them gets the field's ``limit_error`` code (default ``bad_message``)."""
    code = limits.get("limit_error", ErrorCode.BAD_MESSAGE)
    if isinstance(value, str):
        max_len = limits.get("max_len")
        if max_len is not None and len(value) > max_len:
            raise _FieldError(f"{where!r} is longer than {max_len} characters")
        if len(value) < limits.get("min_len", 0):
            raise _FieldError(f"{where!r} must not be empty")
        if limits.get("base64url") and not _BASE64URL.fullmatch(value):
            raise _FieldError(f"{where!r} must be unpadded base64url text")
    choices = limits.get("choices")
    if choices is not None and value not in choices:
        raise _FieldError(f"{where!r} must be one of {', '.join(map(str, choices))}", code)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = limits.get("min"), limits.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise _FieldError(f"{where!r} must be {span}", code)
        floor = limits.get("min_exclusive")
        if floor is not None and value <= floor:
            raise _FieldError(f"{where!r} must be more than {floor}", code)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    if isinstance(tp, typing.NewType):  # an id: on the wire, the type it is made from
        return _coerce(value, tp.__supertype__, where)
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        candidates = [o for o in options if o is not type(None)]
        if len(candidates) == 1:
            return _coerce(value, candidates[0], where)
        if isinstance(value, dict):  # a union of messages: dispatch on their type key
            by_type = {c.TYPE: c for c in candidates}
            cls = by_type.get(value.get("type"))
            if cls is None:
                raise _FieldError(f"{where!r} has an unexpected type {_shown(value.get('type'))}")
            return _build(cls, value, where)
        raise _FieldError(f"{where!r} has the wrong type")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _FieldError(f"{where!r} must be one of {list(typing.get_args(tp))}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise _FieldError(f"{where!r} must be a list")
        item_type = typing.get_args(tp)[0]
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise _FieldError(f"{where!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(f"{where!r} must be an integer")
        if not -(2**53) <= value <= 2**53:  # what every JSON reader holds exactly
            raise _FieldError(f"{where!r} is out of range")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _FieldError(f"{where!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _FieldError(f"{where!r} must be a string")
        if not _is_unicode_text(value):
            raise _FieldError(f"{where!r} holds a lone surrogate, which is not Unicode text")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _FieldError(f"{where!r} must be an object")
        return _build(tp, value, where)  # type: ignore[arg-type]
    raise TypeError(f"protocol field type {tp!r} is not supported")  # a bug here, not input
