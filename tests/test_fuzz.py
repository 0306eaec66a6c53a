"""Property-based fuzzing of every ingest format and every config reader on mutated real inputs.

Each loader gets a small cut of a real file (a few hundred rows of the Binance capture, the
Tardis, Binance-archive and Databento fixtures, a LOBSTER day, the Bitstamp log), mutated by
Hypothesis: lines deleted, duplicated or swapped, fields replaced by empty, huge, negative, NaN or
random text, the file truncated at a random byte; binary files get flipped and truncated bytes.
``amm ingest`` then runs into a catalog that already holds the unmutated cut. The property: exit 0,
or exit 1 with exactly one ``error:`` line on stderr and the catalog byte for byte unchanged; any
other exception (a traceback) fails the test with the input Hypothesis shrank it to.

The config readers (live deployment, backtest run, training run, sweep, walk-forward files) get the
shipped files with lines deleted and values replaced: they load, or raise a user error
(``ValueError``, ``OSError``, ``RuntimeError``) whose message is one line.

``AMM_FUZZ_EXAMPLES`` (default 30) sets the inputs per format and per config file; the test prints
how many it tried. Found and fixed with it: see ``docs/results.md`` ("Fuzzing the loaders").
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.settings import data_dir
from tests.helpers import amm, tree_digest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("AMM_FUZZ_EXAMPLES", "30"))
FIX = data_dir() / "fixtures"
TRIED: dict[str, int] = {}

NASTY = ["", "nan", "-1", "0", "-0.0", "1e308", "-inf", "abc", "9" * 30, "1,2", '"', "\x00", "true", " ", "2024-13-45"]
LINE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), st.integers(0, 10**6)),
        st.tuples(st.just("duplicate"), st.integers(0, 10**6)),
        st.tuples(st.just("swap"), st.integers(0, 10**6), st.integers(0, 10**6)),
        st.tuples(st.just("field"), st.integers(0, 10**6), st.integers(0, 40),
                  st.one_of(st.sampled_from(NASTY), st.text(max_size=8))),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    ),
    min_size=1,
    max_size=4,
)
BYTE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.floats(0.0, 1.0), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
        st.tuples(st.just("insert"), st.floats(0.0, 1.0), st.binary(min_size=1, max_size=16)),
    ),
    min_size=1,
    max_size=3,
)


def mutate_lines(text: str, ops: list[tuple], keep_header: bool = True) -> str:
    """Apply line operations to ``text`` (line 0, a CSV header, is kept when ``keep_header``)."""
    lines = text.splitlines()
    head, body = (lines[:1], lines[1:]) if keep_header else ([], lines)
    for op in ops:
        if not body:
            break
        kind, *args = op
        i = args[0] % len(body) if kind != "truncate" else 0
        if kind == "delete":
            del body[i]
        elif kind == "duplicate":
            body.insert(i, body[i])
        elif kind == "swap":
            j = args[1] % len(body)
            body[i], body[j] = body[j], body[i]
        elif kind == "field":
            sep = "," if "," in body[i] else " "
            fields = body[i].split(sep)
            fields[args[1] % len(fields)] = args[2]
            body[i] = sep.join(fields)
    out = "\n".join(head + body) + "\n"
    cut = next((op[1] for op in ops if op[0] == "truncate"), None)
    return out[: int(len(out) * cut)] if cut is not None and cut < 0.98 else out


def mutate_bytes(data: bytes, ops: list[tuple]) -> bytes:
    buf = bytearray(data)
    for kind, where, *rest in ops:
        i = int(where * max(len(buf) - 1, 0))
        if kind == "flip" and buf:
            buf[i] ^= rest[0]
        elif kind == "truncate":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = rest[0]
    return bytes(buf)


def head(path: Path, n: int, opener=open) -> str:
    with opener(path, "rt") as f:
        return "".join(line for _, line in zip(range(n), f, strict=False))


# -- the seeds: (format, extra ingest options, {file name: content}, which file to mutate) -----------


def _lobster_pair() -> dict[str, str]:
    with zipfile.ZipFile(data_dir() / "lobster" / "LOBSTER_SampleFile_AMZN_2012-06-21_1.zip") as z:
        names = {n.rsplit("/", 1)[-1]: n for n in z.namelist() if n.endswith(".csv")}
        return {k: "".join(z.read(v).decode().splitlines(keepends=True)[:300]) for k, v in names.items()}


def seeds() -> dict[str, tuple[str, list[str], dict[str, str | bytes], str, str]]:
    """name -> (format, options, files, mutated file, "lines"/"bytes"/"gz"/"xz")."""
    lob = _lobster_pair()
    message = next(k for k in lob if "_message_" in k)
    return {
        "binance-ws": ("binance-ws", [], {"btcusdt_20240808.gz": head(data_dir() / "binance_ws/usdm/btcusdt_20240808.gz", 600, gzip.open)},
                       "btcusdt_20240808.gz", "gz"),
        "binance-csv": ("binance-csv", ["--instrument", "BTCUSDT-PERP.BINANCE"],
                        {"btcusdt-depth-snap.csv": (FIX / "binance/btcusdt-depth-snap.csv").read_text(),
                         "btcusdt-depth-update.csv": head(FIX / "binance/btcusdt-depth-update.csv", 400)},
                        "btcusdt-depth-update.csv", "lines"),
        "tardis-trades": ("tardis", [], {"bitmex_trades_XBTUSD.csv": (FIX / "tardis/bitmex_trades_XBTUSD.csv").read_text()},
                          "bitmex_trades_XBTUSD.csv", "lines"),
        "tardis-book": ("tardis", [], {"deribit_incremental_book_L2_BTC-PERPETUAL.csv":
                                       head(FIX / "tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv", 300)},
                        "deribit_incremental_book_L2_BTC-PERPETUAL.csv", "lines"),
        "ticks-csv": ("ticks-csv", [], {"usdjpy-ticks.csv": head(FIX / "truefx/usdjpy-ticks.csv", 400)},
                      "usdjpy-ticks.csv", "lines"),
        "ticks-csv-trades": ("ticks-csv", ["--instrument", "XBTUSD.BITMEX"],
                             {"bitmex_trades_XBTUSD.csv": (FIX / "tardis/bitmex_trades_XBTUSD.csv").read_text()},
                             "bitmex_trades_XBTUSD.csv", "lines"),
        "lobster": ("lobster", [], lob, message, "lines_noheader"),
        "databento": ("databento", [], {"definition-glbx-es-fut.dbn.zst": (FIX / "databento/definition-glbx-es-fut.dbn.zst").read_bytes(),
                                        "esh4-glbx-mdp3-20231224.mbo.dbn.zst": (FIX / "databento/esh4-glbx-mdp3-20231224.mbo.dbn.zst").read_bytes()},
                      "esh4-glbx-mdp3-20231224.mbo.dbn.zst", "bytes"),
        "bitstamp": ("bitstamp", [], {"bitstamp_btcusd_20150501.log.xz": head(data_dir() / "bitstamp/bitstamp_btcusd_20150501.log.xz", 400, lzma.open)},
                     "bitstamp_btcusd_20150501.log.xz", "xz"),
    }


def _write(directory: Path, files: dict[str, str | bytes], mutated: str | None = None, payload: str | bytes | None = None,
           kind: str = "lines") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, content in files.items():
        if name == mutated:
            content = payload
        path = directory / name
        if kind == "gz" and name.endswith(".gz"):
            path.write_bytes(gzip.compress(content.encode("utf-8", "surrogateescape")))
        elif kind == "xz" and name.endswith(".xz"):
            path.write_bytes(lzma.compress(content.encode("utf-8", "surrogateescape")))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogateescape")
        out.append(path)
    return out


def _ingest(capsys, fmt: str, files: list[Path], options: list[str], catalog: Path) -> tuple[int, str, str]:
    inputs = files[:1] if fmt == "lobster" else files  # LOBSTER: one of the pair names both
    return amm(capsys, "ingest", fmt, *map(str, inputs), "--catalog", str(catalog), "--no-progress", *options)


SEEDS = seeds()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_loader_on_mutated_real_input_fails_in_one_line_and_changes_nothing(name, tmp_path_factory, capsys):
    fmt, options, files, mutated, kind = SEEDS[name]
    base_dir = tmp_path_factory.mktemp(f"{name}-seed")
    base = base_dir / "catalog"
    code, _, err = _ingest(capsys, fmt, _write(base_dir / "in", files, kind=kind), options, base)
    assert code == 0, f"the unmutated seed must ingest: {err}"
    original = files[mutated]
    TRIED[name] = 0
    refused = [0]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=BYTE_OPS if kind == "bytes" else LINE_OPS)
    def check(ops):
        TRIED[name] += 1
        work = tmp_path_factory.mktemp(f"{name}-case")
        catalog = work / "catalog"
        shutil.copytree(base, catalog)
        before = tree_digest(catalog)
        if kind == "bytes":
            payload = mutate_bytes(original, ops)
        else:
            payload = mutate_lines(original, ops, keep_header=kind != "lines_noheader")
        inputs = _write(work / "in", files, mutated, payload, kind="lines" if kind == "lines_noheader" else kind)
        code, _, err = _ingest(capsys, fmt, inputs, options, catalog)
        if code != 0:
            refused[0] += 1
            lines = err.strip().splitlines()
            assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (code, err[-1500:])
            assert tree_digest(catalog) == before, f"a failed ingest changed the catalog: {lines[0]}"
        shutil.rmtree(work, ignore_errors=True)

    check()
    print(f"fuzz {name}: {TRIED[name]} mutated inputs: {refused[0]} refused in one line (catalog unchanged), "
          f"{TRIED[name] - refused[0]} ingested")


# -- config readers ---------------------------------------------------------------------------------


def _readers():
    from amm.walkforward import load_walkforward
    from backtests.config import load_run_config as load_backtest
    from backtests.sweep import read_sweep_file
    from live.config import load_config
    from rl.train import load_run_config as load_training

    return {
        "live/configs/replay.toml": load_config,
        "live/configs/paper_binance_usdm.toml": load_config,
        "backtests/configs/usdm_btcusdt_baselines.toml": load_backtest,
        "backtests/configs/lobster_goog_baselines.toml": load_backtest,
        "rl/configs/usdm_btcusdt_ppo.yml": load_training,
        "backtests/sweeps/usdm_fixed_spread.toml": read_sweep_file,
        "backtests/walkforward/usdm_baselines.toml": load_walkforward,
    }


CONFIG_FILES = sorted(_readers())


@pytest.mark.parametrize("relpath", CONFIG_FILES)
def test_every_config_reader_on_mutated_shipped_files_fails_in_one_line(relpath, tmp_path_factory):
    reader = _readers()[relpath]
    original = (REPO / relpath).read_text().replace("../../", f"{REPO}/")  # paths relative to the shipped file
    suffix = Path(relpath).suffix
    directory = tmp_path_factory.mktemp("config")
    seed = directory / f"seed{suffix}"
    seed.write_text(original)
    reader(seed)  # the unmutated file loads from anywhere
    tried = [0]
    refused = [0]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=LINE_OPS)
    def check(ops):
        tried[0] += 1
        path = directory / f"case{tried[0]}{suffix}"
        path.write_text(mutate_lines(original, ops, keep_header=False), encoding="utf-8", errors="surrogateescape")
        try:
            reader(path)
        except (ValueError, OSError, RuntimeError) as e:
            refused[0] += 1
            assert not isinstance(e, (NotImplementedError, RecursionError)), repr(e)
            assert str(e).strip() and len(str(e).strip().splitlines()) == 1, f"not one line: {e!r}"

    check()
    print(f"fuzz {relpath}: {tried[0]} mutated files: {refused[0]} refused in one line, {tried[0] - refused[0]} loaded")
