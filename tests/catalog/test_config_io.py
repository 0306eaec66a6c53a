"""catalog.config_io: every way a config file can be wrong is one line naming the file and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest
from nautilus_trader.config import NonNegativeInt, PositiveFloat

from catalog.config_io import ConfigError, FieldError, decode, load, read_mapping, to_builtins, validate_constraints


class Latency(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    base_ms: NonNegativeInt = 10
    model: Literal["fixed", "random"] = "fixed"


class Venue(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    latency: Latency = msgspec.field(default_factory=Latency)
    leverage: PositiveFloat = 1.0
    fee: Decimal = Decimal(0)
    hedging: bool = False
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_constraints(self)
        if self.hedging and self.leverage != 1.0:
            raise FieldError("Venue", "leverage", "must be 1 with hedging")


class Run(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    venues: list[Venue]
    note: str | None = None


class Loose(msgspec.Struct, frozen=True):  # like Nautilus' StrategyConfig: unknown keys allowed
    size: Annotated[int, msgspec.Meta(gt=0)] = 1


def _error(tmp_path: Path, text: str, type_: type = Run, name: str = "x.toml") -> ConfigError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, type_)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith(f"{path}: ")
    return err


GOOD = '[[venues]]\nname = "A"\n'


def test_a_good_file_decodes(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(GOOD + 'fee = "-0.0001"\ntags = ["a"]\n[venues.latency]\nbase_ms = 0\n')
    run = load(path, Run)
    assert run.venues[0] == Venue(name="A", fee=Decimal("-0.0001"), tags=("a",), latency=Latency(base_ms=0))


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (GOOD + "[venues.latency]\nbase_mss = 1\n", "venues[0].latency.base_mss", "unknown field; expected one of: base_ms, model"),
        (GOOD + '[venues.latency]\nbase_ms = "1"\n', "venues[0].latency.base_ms", "Expected `int`, got `str`"),
        (GOOD + "[venues.latency]\nbase_ms = -1\n", "venues[0].latency.base_ms", "Expected `int` >= 0"),
        (GOOD + '[venues.latency]\nmodel = "gauss"\n', "venues[0].latency.model", "expected one of: fixed, random"),
        (GOOD + "hedging = true\nleverage = 2.0\n", "venues[0].leverage", "must be 1 with hedging"),
        ("[[venues]]\nleverage = 2.0\n", "venues[0].name", "missing required field"),
        (GOOD + "[[venues]]\nname = 'B'\ntags = [1]\n", "venues[1].tags[0]", "Expected `str`, got `int`"),
        ("bogus = 1\n" + GOOD, "bogus", "unknown field"),
    ],
)
def test_bad_values_name_the_file_and_field(tmp_path, text, field, message):
    err = _error(tmp_path, text)
    assert err.field == field, str(err)
    assert message in err.message
    assert str(err) == f"{tmp_path / 'x.toml'}: {field}: {err.message}"


def test_yaml_and_syntax_errors(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("venues:\n  - name: A\n    leverage: 0\n")
    with pytest.raises(ConfigError, match=r"x.yaml: venues\[0\].leverage: Expected `float` > 0.0"):
        load(path, Run)
    err = _error(tmp_path, "venues: [\n", name="y.yaml")
    assert err.field == "" and "invalid YAML" in err.message and "line" in err.message
    err = _error(tmp_path, "[[venues]\n")
    assert err.field == "" and "invalid TOML" in err.message
    err = _error(tmp_path, "- 1\n", name="z.yml")
    assert "expected a table at the top level" in err.message
    with pytest.raises(ConfigError, match="cannot read config file"):
        read_mapping(tmp_path / "missing.toml")


def test_timestamps_read_as_text(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("start = 2024-08-08T23:55:00Z\nday = 2024-08-08\n")
    assert read_mapping(path) == {"start": "2024-08-08T23:55:00+00:00", "day": "2024-08-08"}


def test_decode_of_a_mapping_names_the_source_and_path():
    with pytest.raises(ConfigError, match=r"^<cli>: venue.leverage: Expected `float`, got `str`$"):
        decode({"name": "A", "leverage": "x"}, Venue, source="<cli>", path="venue")
    # unknown keys are refused even where the struct itself allows them (Nautilus configs)
    with pytest.raises(ConfigError, match=r"^cfg.toml: strategies\[0\].config.sise: unknown field; expected one of: size$"):
        decode({"sise": 2}, Loose, source="cfg.toml", path="strategies[0].config")
    with pytest.raises(ConfigError, match=r"strategies\[0\].config.size: Expected `int` >= 1"):
        decode({"size": 0}, Loose, source="cfg.toml", path="strategies[0].config")


def test_python_construction_is_checked_like_decoding():
    with pytest.raises(FieldError, match=r"^Venue.leverage: must be gt 0.0, got -1.0$"):
        Venue(name="A", leverage=-1.0)
    with pytest.raises(FieldError, match=r"^Latency.model: must be one of 'fixed', 'random', got 'gauss'$"):
        validate_constraints(Latency(model="gauss"))  # type: ignore[arg-type]
    with pytest.raises(FieldError, match=r"^Venue.hedging: expected bool, got str 'yes'$"):
        Venue(name="A", hedging="yes")  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="Latency.base_ms: expected int"):
        validate_constraints(Latency(base_ms=1.5))  # type: ignore[arg-type]
    import numpy as np

    validate_constraints(Latency(base_ms=np.int64(3)))  # numpy integers are integers
    assert Venue(name="A", leverage=2).leverage == 2  # an int is a float, as when decoding


def test_to_builtins_is_toml_safe():
    run = Run(venues=[Venue(name="A", fee=Decimal("0.1"), tags=("x",))])
    data = to_builtins(run, omit_none=True)
    assert data == {"venues": [{"name": "A", "latency": {"base_ms": 10, "model": "fixed"}, "leverage": 1.0,
                                "fee": "0.1", "hedging": False, "tags": ["x"]}]}
    assert to_builtins(run)["note"] is None
    assert decode(data, Run, source="round trip") == run


def test_config_errors_survive_pickling() -> None:
    """Ray and multiprocessing copy a failed trial's error between processes by pickling it."""
    import pickle

    from catalog.config_io import ConfigError, FieldError

    error = pickle.loads(pickle.dumps(ConfigError("run.toml", "strategies[0].config.max_loss", "must be > 0")))
    assert (error.source, error.field, str(error)) == (
        "run.toml", "strategies[0].config.max_loss", "run.toml: strategies[0].config.max_loss: must be > 0")
    field = pickle.loads(pickle.dumps(FieldError("AgentConfig", "order_qty", "must be > 0")))
    assert (field.owner, field.field, str(field)) == ("AgentConfig", "order_qty", "AgentConfig.order_qty: must be > 0")
