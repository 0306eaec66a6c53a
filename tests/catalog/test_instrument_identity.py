"""An ingest's instrument is the data's: wrong labels, other instruments' prices and changed
definitions are refused (issue "Nothing lost, nothing silently wrong", items 1 and 3).

Real captures: ``binance_ws/usdm/btcusdt_20240808.gz`` and ``ethusdt_20240808.gz``. Every refusal is
one line on stderr, exit 1, and leaves the catalog byte for byte as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from catalog.settings import data_dir
from tests.helpers import amm, tree_digest

BTC = data_dir() / "binance_ws/usdm/btcusdt_20240808.gz"
ETH = data_dir() / "binance_ws/usdm/ethusdt_20240808.gz"


@pytest.fixture(scope="module")
def eth_catalog(tmp_path_factory) -> Path:
    from catalog.ingest import ingest_files

    path = tmp_path_factory.mktemp("eth") / "catalog"
    ingest_files("binance-ws", [ETH], path)
    return path


@pytest.fixture()
def catalog(eth_catalog, tmp_path) -> Path:
    dest = tmp_path / "catalog"
    shutil.copytree(eth_catalog, dest)
    return dest


def refused(capsys, catalog: Path, *args: str) -> str:
    before = tree_digest(catalog)
    code, _, err = amm(capsys, "ingest", *args, "--catalog", str(catalog), "--no-progress")
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert tree_digest(catalog) == before
    return err


def test_btc_data_labelled_as_eth_is_refused(capsys, catalog):
    err = refused(capsys, catalog, "binance-ws", str(BTC), "--instrument", "ETHUSDT-PERP.BINANCE")
    assert "--instrument ETHUSDT-PERP.BINANCE contradicts the data's symbol" in err and "BTCUSDT-PERP.BINANCE" in err


def test_a_usdt_margined_stream_labelled_as_the_inverse_contract_is_refused(capsys, catalog):
    err = refused(capsys, catalog, "binance-ws", str(BTC), "--instrument", "BTCUSD-PERP.BINANCE")
    assert "contradicts the data's symbol" in err


def test_a_futures_stream_labelled_as_spot_is_refused(capsys, catalog):
    err = refused(capsys, catalog, "binance-ws", str(BTC), "--instrument", "BTCUSDT.BINANCE")
    assert "contradicts the data's market" in err


def test_prices_of_another_instrument_are_refused_where_the_label_cannot_be_checked(catalog):
    """A loader that cannot name its data's instrument (a ticks CSV) relies on the price check:
    BTC prices (~61,000) labelled ETH are refused against the ETH series (~2,600)."""
    from catalog.identity import PriceSampler, check_price_scale
    from catalog.loaders.binance_ws import BinanceWsLoader
    from catalog.quality import DataQualityError, QualityReport

    sampler = PriceSampler()
    stream = BinanceWsLoader(instrument_id="ETHUSDT-PERP.BINANCE").iter_data([BTC], QualityReport("binance-ws"))
    for _, obj in zip(range(20_000), stream, strict=False):
        sampler.add(obj)
    with pytest.raises(DataQualityError, match=r"prices \(median 6.*\) are .*x those of the ETHUSDT-PERP.BINANCE series"):
        check_price_scale(catalog, sampler, source=str(BTC))


def test_force_instrument_accepts_a_label_the_user_vouches_for(capsys, catalog):
    code, _, err = amm(capsys, "ingest", "binance-ws", str(BTC), "--instrument", "BTCUSDT.BINANCE",
                       "--force-instrument", "--catalog", str(catalog), "--no-progress")
    assert code == 0, err


def test_relabelled_data_with_the_right_symbol_still_lands(capsys, catalog):
    """A venue rename keeps the symbol and market: accepted, next to the ETH series."""
    code, out, err = amm(capsys, "ingest", "binance-ws", str(BTC), "--instrument", "BTCUSDT-PERP.TESTVENUE",
                         "--instrument-spec", str(_spec_for(catalog, "BTCUSDT-PERP.TESTVENUE")),
                         "--catalog", str(catalog), "--no-progress", "--json")
    assert code == 0, err
    assert json.loads(out)["rows_written"]["TradeTick"] > 0


def _spec_for(catalog: Path, iid: str) -> Path:
    """The shipped BTCUSDT-PERP spec under another venue's id."""
    from catalog.instruments import DEFAULT_SPEC_FILE

    text = DEFAULT_SPEC_FILE.read_text()
    start = text.index('["BTCUSDT-PERP.BINANCE"]')
    end = text.find("\n[", start + 1)
    spec = catalog.parent / "spec.toml"
    spec.write_text(text[start:end if end > 0 else None].replace('["BTCUSDT-PERP.BINANCE"]', f'["{iid}"]'))
    return spec


def test_a_changed_instrument_spec_is_refused_unless_replaced(capsys, catalog):
    """Re-ingesting with other fees left two definitions: the env charged one, the backtest another."""
    from catalog.instruments import DEFAULT_SPEC_FILE
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    text = DEFAULT_SPEC_FILE.read_text()
    start = text.index('["ETHUSDT-PERP.BINANCE"]')
    end = text.find("\n[", start + 1)
    block = text[start:end if end > 0 else None]
    assert "maker_fee" in block
    spec = catalog.parent / "vip.toml"
    spec.write_text("\n".join(
        "maker_fee = \"0.0001\"" if line.strip().startswith("maker_fee") else line for line in block.splitlines()))
    err = refused(capsys, catalog, "binance-ws", str(ETH), "--instrument-spec", str(spec))
    assert "ETHUSDT-PERP.BINANCE is already defined differently (maker_fee" in err and "--replace-instrument" in err
    code, _, err = amm(capsys, "ingest", "binance-ws", str(ETH), "--instrument-spec", str(spec), "--replace-instrument",
                       "--catalog", str(catalog), "--no-progress")
    assert code == 0, err
    defined = ParquetDataCatalog(str(catalog)).instruments()
    assert [(str(i.id), str(i.maker_fee)) for i in defined] == [("ETHUSDT-PERP.BINANCE", "0.0001")]


def test_a_changed_tick_size_is_named_not_a_pyarrow_schema_error(capsys, catalog):
    """A finer tick used to surface as pyarrow's "Unifying differing dictionaries" traceback."""
    from catalog.instruments import DEFAULT_SPEC_FILE

    text = DEFAULT_SPEC_FILE.read_text()
    start = text.index('["ETHUSDT-PERP.BINANCE"]')
    end = text.find("\n[", start + 1)
    block = text[start:end if end > 0 else None]
    spec = catalog.parent / "fine.toml"
    spec.write_text("\n".join('tick_size = "0.001"' if line.strip().startswith("tick_size") else line
                              for line in block.splitlines()))
    err = refused(capsys, catalog, "binance-ws", str(ETH), "--instrument-spec", str(spec))
    assert "already defined differently" in err and "price_increment 0.01 -> 0.001" in err
