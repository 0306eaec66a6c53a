"""Config files decoded into frozen msgspec structs, with one-line errors naming file and field.

Every config of the project (backtest runs, venues, strategies, training, live deployments) is a
frozen ``msgspec.Struct`` (Nautilus' own ``NautilusConfig`` is one), with constrained fields
(``PositiveInt``, ``Annotated[float, Meta(ge=0)]``), ``Literal`` choices and unknown fields
forbidden. This module is the one way from a TOML/YAML file or a parsed mapping into such a
struct: msgspec does the validation and reports a ``$.a.b[0].c`` path; :class:`ConfigError`
turns that into ``file: a.b[0].c: message``, one line, for a syntax error, an unknown key, a wrong
type, a value out of range or a cross-field check of ``__post_init__`` alike.

msgspec checks ``Meta`` constraints and ``Literal`` choices only when decoding, not when a struct
is built in Python; a config's ``__post_init__`` calls :func:`validate_constraints` so both paths
reject the same values, and raises :class:`FieldError` for its own checks so a decoded file's
error names the nested field.

Secrets never pass through here. A field whose name means a credential (``api_key``,
``binance_key``, ``secret``, ``token``, ``password``, ``passphrase``: :func:`is_credential_name`)
is refused wherever it appears in the data, a strategy config, a run file, a live file or a
dict-valued field inside one, with a message naming the field and never its value: keys are read
from the environment or a mounted secret (``live/secrets.py``). And no error built here echoes
the value of a secret-named field (those, plus references such as ``api_key_env`` or
``secrets_path``, where a key pasted by mistake would otherwise be printed back): it is replaced
by ``****`` in the message, whatever the parser or a ``__post_init__`` check wrote.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_ENUM = re.compile(r"^Invalid enum value ")
_OWNER_FIELD = re.compile(r"^[A-Z]\w*\.(?P<field>[A-Za-z_][\w.\[\]'\"-]*): (?P<message>.*)$", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[([^\]]*)\]")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # a field name, not a data key like "KEY.XNAS"

MASK = "****"
"""What a secret value is replaced with in error messages."""

SECRET_WORDS = frozenset({
    "key", "apikey", "secret", "secrets", "secretkey", "privatekey", "password", "passwd",
    "passphrase", "token", "credential", "credentials",
})
"""Words of a field name that mean a credential (``binance_key``, ``apiSecret``, ``token``)."""

REFERENCE_WORDS = frozenset({"env", "var", "file", "path", "dir"})
"""A last word that makes the field a *reference* to a credential (``api_key_env``,
``secrets_path``): allowed in a config, but its value is still never echoed."""

CREDENTIAL_MESSAGE = (
    "is a credential field; keys and secrets are read only from environment variables or a "
    "mounted secret (AMM_SECRETS_PATH, see live/secrets.py), never from config files"
)


class ConfigError(ValueError):
    """A bad config a user can fix: ``source: field.path: message``, on one line.

    Parameters
    ----------
    source : str or Path
        The file (or ``<cli>``-style label) the config came from.
    field : str
        Dotted path of the offending field (``strategies[0].config.max_loss``); ``""`` for the
        file as a whole (unreadable, not TOML).
    message : str
        What is wrong and what is expected.
    """

    def __init__(self, source: str | Path, field: str, message: str) -> None:
        self.source = str(source)
        self.field = field
        self.message = " ".join(str(message).split())  # one line, whatever the parser said
        super().__init__(f"{self.source}: {field}: {self.message}" if field else f"{self.source}: {self.message}")

    def __reduce__(self) -> tuple:
        # picklable with its three fields (Ray and multiprocessing copy errors between processes)
        return type(self), (self.source, self.field, self.message)


class FieldError(ValueError):
    """A failed check of one field, raised by a config's ``__post_init__``.

    The text is ``Owner.field: message`` (what a config built in Python shows); decoded from a file,
    :func:`decode` re-roots ``field`` under the struct's own path in the file.
    """

    def __init__(self, owner: str, field: str, message: str) -> None:
        self.owner = owner
        self.field = field
        self.message = message
        super().__init__(f"{owner}.{field}: {message}")

    def __reduce__(self) -> tuple:
        return type(self), (self.owner, self.field, self.message)


# -- secrets ---------------------------------------------------------------------------------------


def name_words(name: str) -> list[str]:
    """The lower-case words of a field name: ``binanceApiKey`` / ``BINANCE_API_KEY`` -> binance, api, key."""
    return [w.lower() for w in _WORD.findall(str(name))]


def is_secret_name(name: str) -> bool:
    """Whether a field's value must never be echoed: its name has a credential word
    (:data:`SECRET_WORDS`), including references like ``api_key_env``.

    Only identifiers are field names: a dict key such as an instrument id (``KEY.XNAS``,
    KeyCorp) is data, not a name.
    """
    return bool(_IDENTIFIER.match(str(name))) and any(w in SECRET_WORDS for w in name_words(name))


def is_credential_name(name: str) -> bool:
    """Whether a field name can only mean a credential (``api_key``, ``binance_key``,
    ``secret``): a secret name that is not a reference (``*_env``, ``*_path``, ...)."""
    return is_secret_name(name) and name_words(name)[-1] not in REFERENCE_WORDS


def credential_fields(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of credential-named fields holding a value, anywhere in parsed data."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            path = _join(prefix, str(k))
            if is_credential_name(str(k)) and v not in (None, "", [], {}):
                found.append(path)
            else:
                found.extend(credential_fields(v, path))
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            found.extend(credential_fields(v, f"{prefix}[{i}]"))
    return found


def secret_values(data: Any) -> set[str]:
    """The text of every value under a secret-named field (nested values included)."""
    out: set[str] = set()

    def collect(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                collect(v, secret or is_secret_name(str(k)))
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                collect(v, secret)
        elif secret and value is not None and not isinstance(value, bool) and str(value) != "":
            out.add(str(value))

    collect(data, False)
    return out


def redact(text: str, secrets: set[str]) -> str:
    """``text`` with each secret value, quoted or bare, replaced by :data:`MASK`.

    Quoted forms (``'value'``) are replaced whatever their length; a bare value only from four
    characters on, so a short one (``1``) does not mask ordinary text of the message.
    """
    for value in sorted(secrets, key=len, reverse=True):
        for form in (repr(value), f"`{value}`", f'"{value}"'):
            text = text.replace(form, MASK)
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text


# -- reading ---------------------------------------------------------------------------------------


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (default) or YAML (``.yaml``/``.yml``) file into a dict.

    TOML and YAML timestamps are returned as ISO-8601 text: config fields holding a time are text
    (or UNIX ns), read by one parser, whichever syntax the file used.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(path, "", f"cannot read config file ({e.strerror or e})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise ConfigError(path, "", f"invalid YAML: {getattr(e, 'problem', None) or e}{where}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(path, "", f"invalid TOML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a table at the top level, got {type(data).__name__}")
    return _times_as_text(data)


def _times_as_text(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _times_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times_as_text(v) for v in value]
    return value


def load(path: str | Path, type_: type[T], *, dec_hook: Callable[[type, Any], Any] | None = None) -> T:
    """Read a TOML/YAML file and decode it into ``type_``; errors name the file and field."""
    return decode(read_mapping(path), type_, source=str(path), dec_hook=dec_hook)


# -- decoding --------------------------------------------------------------------------------------


def decode(
    data: Any,
    type_: type[T],
    *,
    source: str | Path,
    path: str = "",
    dec_hook: Callable[[type, Any], Any] | None = None,
) -> T:
    """Decode parsed data (a TOML/YAML table, CLI overrides) into ``type_``.

    Parameters
    ----------
    data : Any
        Plain data, usually a mapping.
    type_ : type
        The target, usually a frozen msgspec struct.
    source : str or Path
        The file (or ``"<cli>"``) named in errors.
    path : str
        Where ``data`` sits in ``source`` (``"strategies[0].config"``): errors are rooted there.
    dec_hook : callable, optional
        msgspec decoding hook for custom types (Nautilus' ``msgspec_decoding_hook`` for
        ``InstrumentId`` and the like).

    Raises
    ------
    ConfigError
        One line naming ``source`` and the dotted field: unknown field, wrong type, out of range,
        missing, or a :class:`FieldError` / ``Owner.field: ...`` check of ``__post_init__``.

    A credential-named field anywhere in ``data`` is refused (:data:`CREDENTIAL_MESSAGE`), and
    the values of secret-named fields are masked in every message (:func:`redact`).

    Notes
    -----
    A mapping decoded into a struct has its keys checked against the struct's fields even if the
    struct does not set ``forbid_unknown_fields`` (Nautilus' ``StrategyConfig`` does not): a typo
    in a config file is an error either way.
    """
    if credentials := credential_fields(data, path):
        raise ConfigError(source, credentials[0], CREDENTIAL_MESSAGE)
    secrets = secret_values(data)
    if isinstance(data, Mapping) and isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        known = _known_fields(type_)
        for key in data:
            if key not in known:
                raise ConfigError(source, _join(path, str(key)), _unknown_message(known))
    try:
        return msgspec.convert(data, type_, dec_hook=dec_hook)
    except msgspec.ValidationError as e:
        error = _config_error(e, type_, source, path)
    if secrets:
        error = ConfigError(error.source, error.field, redact(error.message, secrets))
    raise error from None


def _config_error(e: msgspec.ValidationError, root: type, source: str | Path, prefix: str) -> ConfigError:
    text = str(e)
    m = _AT_PATH.match(text)
    message, at = (m["message"], m["path"]) if m else (text, "")
    field = _join(prefix, at.lstrip("."))
    cause = e.__context__
    if isinstance(cause, FieldError):
        return ConfigError(source, _join(field, cause.field), cause.message)
    if unknown := _UNKNOWN.match(message):
        known = _known_fields(_type_at(root, at))
        return ConfigError(source, _join(field, unknown["name"]), _unknown_message(known))
    if missing := _MISSING.match(message):
        return ConfigError(source, _join(field, missing["name"]), "missing required field")
    if _ENUM.match(message) and (choices := _choices(_type_at(root, at))):
        return ConfigError(source, field, f"{message}; expected one of: {', '.join(map(str, choices))}")
    if isinstance(cause, ValueError | TypeError) and (owned := _OWNER_FIELD.match(message)):
        return ConfigError(source, _join(field, owned["field"]), owned["message"])
    return ConfigError(source, field, message)


def _join(prefix: str, path: str) -> str:
    if not prefix or not path:
        return prefix or path
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _unknown_message(known: tuple[str, ...]) -> str:
    return f"unknown field; expected one of: {', '.join(sorted(known))}" if known else "unknown field"


def _known_fields(type_: Any) -> tuple[str, ...]:
    info = _info(type_) if not isinstance(type_, mi.Type) else type_
    for t in _alternatives(info):
        if isinstance(t, mi.StructType):
            return tuple(f.encode_name for f in t.fields)
    return ()


def _choices(info: mi.Type | None) -> tuple[Any, ...]:
    return tuple(v for t in _alternatives(info) if isinstance(t, mi.LiteralType) for v in t.values)


def _info(type_: Any) -> mi.Type | None:
    try:
        return mi.type_info(type_)
    except (TypeError, ValueError):  # a type msgspec cannot describe
        return None


def _alternatives(info: mi.Type | None) -> list[mi.Type]:
    if info is None:
        return []
    if isinstance(info, mi.UnionType):
        return list(info.types)
    return [info]


def _type_at(root: type, at: str) -> mi.Type | None:
    """The msgspec type at a ``.a[0].b`` error path of ``root`` (None where it cannot be told)."""
    info = _info(root)
    for name, index in _SEGMENT.findall(at):
        step = None
        for t in _alternatives(info):
            if name and isinstance(t, mi.StructType):
                step = next((f.type for f in t.fields if f.encode_name == name), None)
            elif not name and isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
                step = t.item_type
            elif not name and isinstance(t, mi.TupleType) and index.isdigit() and int(index) < len(t.item_types):
                step = t.item_types[int(index)]
            elif not name and isinstance(t, mi.DictType):
                step = t.value_type
            if step is not None:
                break
        info = step
        if info is None:
            return None
    return info


# -- checks of configs built in Python ------------------------------------------------------------


def validate_constraints(config: msgspec.Struct) -> None:
    """Check a struct's field annotations the way decoding would: bounds, choices, number types.

    msgspec only enforces ``Meta(gt=..., ge=..., lt=..., le=...)`` bounds and ``Literal`` choices
    when *decoding*; a config constructed in Python skips them. Calling this from ``__post_init__``
    makes both paths reject the same bad values, naming the field. ``bool``/``int``/``float``
    fields must also hold a number of that kind (a bool is not an int here, as in msgspec): a
    string where a flag belongs would otherwise be silently truthy.

    Raises
    ------
    FieldError
        ``Owner.field: must be gt 0, got -1`` (or ``must be one of ...``, ``expected int ...``).
    """
    owner = type(config).__name__
    hints = typing.get_type_hints(type(config), include_extras=True)
    for name in config.__struct_fields__:
        value = getattr(config, name)
        hint = hints.get(name)
        if value is None:
            continue
        shown = MASK if is_secret_name(name) else repr(value)  # never echo a secret field's value
        choices = _literal_values(hint)
        if choices and value not in choices:
            raise FieldError(owner, name, f"must be one of {', '.join(map(repr, choices))}, got {shown}")
        kind = _scalar_kind(hint)
        if kind is not None and not _is_kind(value, kind):
            raise FieldError(owner, name, f"expected {kind.__name__}, got {type(value).__name__} {shown}")
        if isinstance(value, bool):
            continue
        for meta in _metas(hint):
            for attr, ok in (
                ("gt", lambda v, b: v > b),
                ("ge", lambda v, b: v >= b),
                ("lt", lambda v, b: v < b),
                ("le", lambda v, b: v <= b),
            ):
                bound = getattr(meta, attr, None)
                if bound is not None and not ok(value, bound):
                    raise FieldError(owner, name, f"must be {attr} {bound}, got {shown}")


def _strip(hint: object) -> list[object]:
    """The alternatives of a hint: ``Annotated`` unwrapped, unions flattened, None left out."""
    if typing.get_origin(hint) is typing.Annotated:
        return _strip(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(hint) for t in _strip(arg)]
    return [] if hint is type(None) else [hint]


def _literal_values(hint: object) -> tuple[Any, ...]:
    alternatives = _strip(hint)
    if not alternatives or any(typing.get_origin(t) is not typing.Literal for t in alternatives):
        return ()
    return tuple(v for t in alternatives for v in typing.get_args(t))


def _scalar_kind(hint: object) -> type | None:
    alternatives = _strip(hint)
    return alternatives[0] if len(alternatives) == 1 and alternatives[0] in (bool, int, float) else None


def _is_kind(value: object, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    number = numbers.Integral if kind is int else numbers.Real  # numpy scalars included
    return isinstance(value, number) and not isinstance(value, bool)


def _metas(hint: object) -> list[msgspec.Meta]:
    if hint is None:
        return []
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return [m for m in typing.get_args(hint)[1:] if isinstance(m, msgspec.Meta)]
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _metas(arg)]
    return []


# -- writing ---------------------------------------------------------------------------------------


def to_builtins(obj: Any, *, omit_none: bool = False) -> Any:
    """Plain data of a struct (dicts, lists, str, numbers): JSON/YAML-safe, and TOML-safe with
    ``omit_none=True`` (TOML has no null: a left-out field reads back as its default).

    Decimals become strings (exact), tuples lists, and other objects (``Path``, ``InstrumentId``)
    their ``str``.
    """
    return _plain(msgspec.to_builtins(obj, enc_hook=str), omit_none)


def _plain(value: Any, omit_none: bool) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, omit_none) for k, v in value.items() if not (omit_none and v is None)}
    if isinstance(value, list | tuple):
        return [_plain(v, omit_none) for v in value]
    return value


__all__ = [
    "CREDENTIAL_MESSAGE",
    "MASK",
    "ConfigError",
    "FieldError",
    "credential_fields",
    "decode",
    "is_credential_name",
    "is_secret_name",
    "load",
    "read_mapping",
    "redact",
    "secret_values",
    "to_builtins",
    "validate_constraints",
]
