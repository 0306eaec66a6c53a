"""PROVISIONAL (replaced by the config-system branch on merge)."""
from __future__ import annotations

import types
import typing
from typing import Any

import msgspec


class ConfigError(ValueError):
    pass


def validate_constraints(config: msgspec.Struct) -> None:
    hints = typing.get_type_hints(type(config), include_extras=True)
    for name in config.__struct_fields__:
        value = getattr(config, name)
        if value is None or isinstance(value, bool):
            continue
        for meta in _metas(hints.get(name)):
            for attr, ok in (
                ("gt", lambda v, b: v > b),
                ("ge", lambda v, b: v >= b),
                ("lt", lambda v, b: v < b),
                ("le", lambda v, b: v <= b),
            ):
                bound = getattr(meta, attr, None)
                if bound is not None and not ok(value, bound):
                    raise ValueError(
                        f"{type(config).__name__}.{name}: must be {attr} {bound}, got {value!r}",
                    )


def _metas(hint: object) -> list[msgspec.Meta]:
    if hint is None:
        return []
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return [m for m in typing.get_args(hint)[1:] if isinstance(m, msgspec.Meta)]
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _metas(arg)]
    return []


def decode(data: Any, cls: type, *, source: str) -> Any:
    from nautilus_trader.common.config import msgspec_decoding_hook
    try:
        return msgspec.convert(data, cls, dec_hook=msgspec_decoding_hook, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{source}: {e}") from None
