"""Tardis / Databento / Binance CSV / tick-file loaders on the real fixtures in
``<data_dir>/fixtures`` (see PROVENANCE.md), plus bad-input cases built from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookAction, RecordFlag
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from catalog.loaders.registry import FORMATS, LOADERS, make_loader
from catalog.loaders.tabular import CheckConfig
from catalog.quality import DataQualityError, QualityReport
from catalog.settings import data_dir

FIX = data_dir() / "fixtures"
TARDIS = FIX / "tardis"
DBN = FIX / "databento"
DBN_BARS = DBN / "historical_bars_catalog" / "databento"

pytestmark = pytest.mark.skipif(not FIX.exists(), reason=f"fixtures not found at {FIX}")


def ingest(fmt: str, files: list[Path], strict: bool = False, **options):
    report = QualityReport(fmt, strict=strict)
    loader = make_loader(fmt, **options)
    data = list(loader.iter_data(files, report))
    return data, loader.instruments(), report


def roundtrip(tmp_path: Path, data: list, instruments: list) -> ParquetDataCatalog:
    """Write into a fresh catalog (sorted by ts_init, NOTES §1) and return it."""
    catalog = ParquetDataCatalog(str(tmp_path / "catalog"))
    catalog.write_data(instruments)
    catalog.write_data(sorted(data, key=lambda o: o.ts_init))
    return catalog


def counts(data: list) -> Counter:
    return Counter(type(o).__name__ for o in data)


def assert_sorted(data: list) -> None:
    ts = [o.ts_init for o in data]
    assert ts == sorted(ts)


def copy_with(tmp_path: Path, src: Path, name: str, edit) -> Path:
    lines = src.read_text().splitlines(keepends=True)
    out = tmp_path / name
    out.write_text("".join(edit(lines)))
    return out


# -- registry ------------------------------------------------------------------------------------


def test_registry_lists_every_format_and_rejects_unknown():
    assert set(FORMATS) == {"binance-ws", "binance-csv", "tardis", "databento", "ticks-csv", "lobster", "bitstamp"}
    assert all(LOADERS[f].name == f for f in FORMATS)  # each registered path imports
    assert LOADERS["tardis"].name == "tardis"
    with pytest.raises(ValueError, match="valid formats: binance-ws, binance-csv"):
        make_loader("csv")
    with pytest.raises(ValueError, match="ticks-csv"):
        make_loader("ticks-csv", no_such_option=1)


# -- tardis --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "n", "iid", "first_ts", "last_ts"),
    [
        ("binance-futures_book_snapshot_5_BTCUSDT.csv", "OrderBookDepth10", 10, "BTCUSDT.BINANCE",
         1598918403810979000, 1598918404289427000),
        ("binance-futures_book_snapshot_25_BTCUSDT.csv", "OrderBookDepth10", 10, "BTCUSDT.BINANCE",
         1598918403810979000, None),
        ("bitmex_trades_XBTUSD.csv", "TradeTick", 10, "XBTUSD.BITMEX", 1583020803307160000, None),
        ("deribit_incremental_book_L2_BTC-PERPETUAL.csv", "OrderBookDelta", 16, "BTC-PERPETUAL.DERIBIT",
         1585699200355684000, None),
        ("huobi-dm-swap_quotes_BTC-USD.csv", "QuoteTick", 10, "BTC-USD.HUOBI_DELIVERY",
         1588291201234268000, None),
    ],
)
def test_tardis_fixture_ingests_and_roundtrips(tmp_path, name, kind, n, iid, first_ts, last_ts):
    data, instruments, report = ingest("tardis", [TARDIS / name])
    assert counts(data) == {kind: n}
    assert {o.instrument_id.value for o in data} == {iid}
    assert data[0].ts_init == first_ts
    if last_ts:
        assert data[-1].ts_init == last_ts
    assert_sorted(data)
    assert [i.id.value for i in instruments] == [iid]
    assert type(instruments[0]).__name__ == "CurrencyPair"
    assert instruments[0].maker_fee == 0
    assert any("fees and margins are 0" in note for note in report.notes)
    assert report.total_dropped == 0
    assert report.rows_written == counts(data)  # an inserted CLEAR is one OrderBookDelta, counted once
    catalog = roundtrip(tmp_path, data, instruments)
    assert [i.id.value for i in catalog.instruments()] == [iid]


def test_tardis_snapshot_gets_clear_and_keeps_prices(tmp_path):
    data, instruments, _ = ingest("tardis", [TARDIS / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"])
    assert data[0].action == BookAction.CLEAR
    assert data[1].action == BookAction.ADD and str(data[1].order.price) == "6421.5"
    assert instruments[0].price_precision == 1 and instruments[0].size_precision == 0
    catalog = roundtrip(tmp_path, data, instruments)
    back = catalog.order_book_deltas(instrument_ids=["BTC-PERPETUAL.DERIBIT"])
    assert len(back) == 16
    assert str(back[1].order.price) == "6421.5" and back[1].order.size.as_double() == 18640


def test_tardis_deltas_close_each_message_across_chunk_boundaries(tmp_path):
    """A snapshot, then a 3-row update and a 3-row snapshot (a reconnect), read 2 rows at a time."""
    src = TARDIS / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
    lines = src.read_text().splitlines(keepends=True)
    update = [ln.replace("1585699200245000,1585699200355684,true", "1585699201245000,1585699201355684,false")
              for ln in lines[1:4]]
    resnap = [ln.replace("1585699200245000,1585699200355684", "1585699202245000,1585699202355684") for ln in lines[1:4]]
    path = tmp_path / "reconnect.csv"
    path.write_text("".join(lines + update + resnap))
    data, _, _ = ingest("tardis", [path], check=CheckConfig(chunk_rows=2))
    # one CLEAR per snapshot (Nautilus inserts them), F_LAST closing every timestamp's message
    assert [d.action for d in data].count(BookAction.CLEAR) == 2
    last_flags = [bool(d.flags & RecordFlag.F_LAST) for d in data]
    ends = [i for i, d in enumerate(data) if i + 1 == len(data) or data[i + 1].ts_init != d.ts_init]
    assert [i for i, f in enumerate(last_flags) if f] == ends
    batches = OrderBookDeltas.batch(data)
    assert [len(b.deltas) for b in batches] == [16, 3, 4]


def test_tardis_all_fixtures_merge_in_ts_order():
    files = sorted(TARDIS.glob("*.csv"))
    data, instruments, _ = ingest("tardis", files)
    assert counts(data) == {"OrderBookDepth10": 20, "OrderBookDelta": 16, "TradeTick": 10, "QuoteTick": 10}
    assert_sorted(data)
    assert len(instruments) == 4


def test_tardis_instrument_override_uses_spec():
    data, instruments, _ = ingest(
        "tardis",
        [TARDIS / "binance-futures_book_snapshot_5_BTCUSDT.csv"],
        instrument_id="BTCUSDT-PERP.BINANCE",
    )
    assert {o.instrument_id.value for o in data} == {"BTCUSDT-PERP.BINANCE"}
    assert type(instruments[0]).__name__ == "CryptoPerpetual"
    assert float(instruments[0].taker_fee) == 0.0005


def test_tardis_bad_rows_dropped_and_counted(tmp_path):
    src = TARDIS / "huobi-dm-swap_quotes_BTC-USD.csv"

    def edit(lines):
        lines[2] = lines[2].replace(",8629.3,", ",NaN,")  # line 3: ask_price NaN
        lines[4] = lines[4].replace(",8629.3,8629.2,", ",8629.1,8629.2,")  # line 5: crossed
        lines.insert(6, lines[5])  # line 7: exact duplicate of line 6
        lines.append(lines[1])  # last line: timestamp back at the start
        return lines

    bad = copy_with(tmp_path, src, "bad.csv", edit)
    data, _, report = ingest("tardis", [bad])
    assert report.dropped == {"nan": 1, "crossed_book": 1, "duplicate": 1, "out_of_order": 1}
    assert len(data) == 10 - 2
    # Nautilus' own loader turns the text NaN into 1.7e13: none of that may survive
    assert all(q.ask_price.as_double() < 10_000 for q in data)
    nan_event = next(e for e in report.events if e.issue.value == "nan")
    assert (nan_event.file, nan_event.line) == (str(bad), 3)
    with pytest.raises(DataQualityError, match=r"bad\.csv:3: nan in field 'ask_price'"):
        ingest("tardis", [bad], strict=True)


def test_tardis_file_level_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataQualityError, match="empty.csv: file is empty"):
        ingest("tardis", [empty])
    src = TARDIS / "huobi-dm-swap_quotes_BTC-USD.csv"
    cut = copy_with(tmp_path, src, "cut.csv", lambda ls: [",".join(x.rstrip("\n").split(",")[:7]) + "\n" for x in ls])
    with pytest.raises(DataQualityError, match=r"cut.csv: Tardis quotes CSV missing column\(s\) \['bid_amount'\]"):
        ingest("tardis", [cut])
    with pytest.raises(DataQualityError, match="nope.csv: file not found"):
        ingest("tardis", [tmp_path / "nope.csv"])


# -- databento -----------------------------------------------------------------------------------


def test_databento_mbo_with_definition(tmp_path):
    files = [
        DBN / "definition-glbx-es-fut.dbn.zst",
        DBN / "esh4-glbx-mdp3-20231224.mbo.dbn.zst",
        DBN / "esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    ]
    data, instruments, report = ingest("databento", files, check=CheckConfig(chunk_rows=20_000))
    # 8,725 book-image adds + 59,448 adds/cancels/modifies; Nautilus 1.231 emits no delta for the
    # 6,371 MBO 'F' (fill) records, which change no book by themselves (1.221 emitted 74,544).
    assert counts(data) == {"OrderBookDelta": 68_173, "TradeTick": 2_973}
    assert_sorted(data)
    assert data[0].ts_init == 1703422805718200244
    assert data[-1].ts_init == 1703548799446821072
    assert {o.instrument_id.value for o in data} == {"ESH4.GLBX"}
    by_id = {i.id.value: i for i in instruments}
    esh4 = by_id["ESH4.GLBX"]
    assert type(esh4).__name__ == "FuturesContract"
    assert str(esh4.price_increment) == "0.25" and int(esh4.multiplier) == 50
    assert str(esh4.expiration_utc.date()) == "2024-03-15"  # third Friday of March 2024
    assert any("derived from ESM3.GLBX" in n for n in report.notes)
    assert report.total_dropped == 0
    catalog = roundtrip(tmp_path, data[:5_000], [esh4])
    assert len(catalog.order_book_deltas(instrument_ids=["ESH4.GLBX"])) == 5_000


def test_databento_chunked_equals_nautilus_whole_file():
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

    path = DBN / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    nautilus = DatabentoDataLoader()
    nautilus.set_price_precision("ESH4", 2)  # ESM3's, as our loader derives it
    whole = nautilus.from_dbn_file(path, include_trades=True)
    data, _, _ = ingest("databento", [DBN / "definition-glbx-es-fut.dbn.zst", path],
                        check=CheckConfig(chunk_rows=7_000))
    assert len(data) == len(whole)
    assert all(repr(a) == repr(b) for a, b in zip(whole[::97], data[::97], strict=True))


def test_databento_mbp1_and_trades_without_double_trades(tmp_path):
    mbp1 = DBN_BARS / "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    trades = DBN_BARS / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    definition = DBN_BARS / "futures_definition.dbn.zst"
    data, instruments, _ = ingest("databento", [definition, mbp1, trades])
    assert counts(data) == {"QuoteTick": 2_288, "TradeTick": 120}
    assert_sorted(data)
    assert data[0].ts_init == 1719878281218485389
    assert {i.id.value for i in instruments} == {"ESU4.GLBX", "NQU4.GLBX"}
    alone, _, _ = ingest("databento", [definition, mbp1])
    assert counts(alone) == {"QuoteTick": 2_288, "TradeTick": 120}
    catalog = roundtrip(tmp_path, data, instruments)
    assert len(catalog.quote_ticks(instrument_ids=["ESU4.GLBX"])) == 2_288
    assert len(catalog.trade_ticks(instrument_ids=["ESU4.GLBX"])) == 120


def test_databento_missing_definition_and_bad_file(tmp_path):
    with pytest.raises(DataQualityError, match="no instrument definition for ESU4.GLBX"):
        ingest("databento", [DBN_BARS / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"])
    junk = tmp_path / "junk.dbn.zst"
    junk.write_bytes(b"not a dbn file at all")
    with pytest.raises(DataQualityError, match="junk.dbn.zst"):
        ingest("databento", [junk])


# -- binance csv ---------------------------------------------------------------------------------


def test_binance_depth_csv_matches_nautilus_loader_and_roundtrips(tmp_path):
    from nautilus_trader.adapters.binance.loaders import BinanceOrderBookDeltaDataLoader
    from nautilus_trader.persistence.wranglers import OrderBookDeltaDataWrangler

    snap, update = FIX / "binance/btcusdt-depth-snap.csv", FIX / "binance/btcusdt-depth-update.csv"
    data, instruments, report = ingest("binance-csv", [snap, update])
    assert counts(data) == {"OrderBookDelta": 201}  # CLEAR + 100 snapshot + 100 diffs
    assert_sorted(data)
    assert data[0].action == BookAction.CLEAR
    assert data[0].ts_init == 1667346579146000000 and data[-1].ts_init == 1667347199939000000
    assert [i.id.value for i in instruments] == ["BTCUSDT.BINANCE"]
    assert any("pu" in n for n in report.notes)
    # same deltas as Nautilus' loader + wrangler, except the F_LAST we add at each update's end
    ref = OrderBookDeltaDataWrangler(instruments[0]).process(BinanceOrderBookDeltaDataLoader.load(snap))
    mine = data[:101]
    for a, b in zip(ref, mine, strict=True):
        assert (a.action, a.order.side, str(a.order.price), str(a.order.size), a.sequence, a.ts_init) == (
            b.action, b.order.side, str(b.order.price), str(b.order.size), b.sequence, b.ts_init)
        assert b.flags & ~RecordFlag.F_LAST.value == a.flags
    assert mine[-1].flags & RecordFlag.F_LAST.value
    catalog = roundtrip(tmp_path, data, instruments)
    assert len(catalog.order_book_deltas(instrument_ids=["BTCUSDT.BINANCE"])) == 201


def test_binance_depth_bad_rows(tmp_path):
    src = FIX / "binance/btcusdt-depth-update.csv"

    def edit(lines):
        lines[3] = lines[3].replace(",a,set,", ",x,set,")  # line 4: bad side
        lines[5] = lines[5].rsplit(",", 3)[0] + ",-1.0,0.000," + lines[5].rsplit(",", 1)[1]  # line 6
        return lines

    bad = copy_with(tmp_path, src, "depth.csv", edit)
    data, _, report = ingest("binance-csv", [bad], instrument_id="BTCUSDT-PERP.BINANCE")
    assert report.dropped == {"malformed": 1, "non_positive_price": 1}
    assert len(data) == 98
    assert {o.instrument_id.value for o in data} == {"BTCUSDT-PERP.BINANCE"}
    with pytest.raises(DataQualityError, match=r"depth.csv:4: malformed in field 'side'"):
        ingest("binance-csv", [bad], strict=True)
    header_only = copy_with(tmp_path, src, "hdr.csv", lambda ls: ls[:1])
    with pytest.raises(DataQualityError, match="hdr.csv: no data rows"):
        ingest("binance-csv", [header_only])
    no_qty = copy_with(tmp_path, src, "noqty.csv", lambda ls: [x.replace("qty", "quantity") for x in ls[:1]] + ls[1:])
    with pytest.raises(DataQualityError, match=r"noqty.csv: missing column\(s\) \['qty'\]"):
        ingest("binance-csv", [no_qty])


TRADES_ROWS = [
    "1001,50000.10,0.00100,50.0001,1723161600000,true,true",
    "1002,50000.20,0.00200,100.0004,1723161600100,false,true",
    "1002,50000.20,0.00200,100.0004,1723161600100,false,true",  # duplicate id
    "1003,,0.00200,1,1723161600200,false,true",  # empty price
    "1004,50001.00,0.00300,150,1723161600050,true,true",  # goes back in time
    "1005,50001.50,0.00100,50,1723161600300,false,true",
]


@pytest.mark.parametrize("header", [False, True])
def test_binance_trades_csv(tmp_path, header):
    path = tmp_path / "BTCUSDT-trades-2024-08-09.csv"
    head = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n" if header else ""
    path.write_text(head + "\n".join(TRADES_ROWS) + "\n")
    data, instruments, report = ingest("binance-csv", [path])
    assert counts(data) == {"TradeTick": 3}
    assert [str(t.trade_id) for t in data] == ["1001", "1002", "1005"]
    assert data[0].aggressor_side == AggressorSide.SELLER  # buyer was maker
    assert data[1].aggressor_side == AggressorSide.BUYER
    assert data[0].ts_init == 1723161600000000000
    assert instruments[0].id.value == "BTCUSDT.BINANCE" and float(instruments[0].maker_fee) == 0.001
    assert report.dropped == {"duplicate": 1, "nan": 1, "out_of_order": 1}
    line = 5 if header else 4
    with pytest.raises(DataQualityError, match=rf"{path.name}:{line - 1}: duplicate in field 'id'"):
        ingest("binance-csv", [path], strict=True)
    roundtrip(tmp_path, data, instruments)


def test_binance_trades_microsecond_time(tmp_path):
    path = tmp_path / "ETHUSDT-trades-2025-01-02.csv"
    path.write_text("7,3000.01,0.5000,1500,1735776000123456,false,true\n")
    data, instruments, _ = ingest("binance-csv", [path])
    assert data[0].ts_init == 1735776000123456000
    assert instruments[0].id.value == "ETHUSDT.BINANCE"


# -- ticks csv -----------------------------------------------------------------------------------


def test_truefx_usdjpy(tmp_path):
    data, instruments, report = ingest("ticks-csv", [FIX / "truefx/usdjpy-ticks.csv"])
    assert counts(data) == {"QuoteTick": 999}
    assert report.dropped == {"locked_book": 1}  # line 943: bid == ask
    assert report.events[0].line == 943
    assert data[0].ts_init == 1357077600295000000  # 2013-01-01 22:00:00.295 UTC
    inst = instruments[0]
    assert inst.id.value == "USD/JPY.SIM" and type(inst).__name__ == "CurrencyPair"
    assert inst.price_precision == 3 and str(data[0].bid_price) == "86.655"
    catalog = roundtrip(tmp_path, data, instruments)
    back = catalog.quote_ticks(instrument_ids=["USD/JPY.SIM"])
    assert len(back) == 999 and str(back[-1].ask_price) == str(data[-1].ask_price)


def test_histdata_est_is_utc_minus_5():
    data, instruments, report = ingest("ticks-csv", [FIX / "quote_tick_data.csv"], instrument_id="EUR/USD.SIM")
    assert counts(data) == {"QuoteTick": 9_500}
    # 20200101 170000065 EST -> 2020-01-01 22:00:00.065 UTC
    assert data[0].ts_init == 1577916000065000000
    assert instruments[0].price_precision == 6
    assert str(data[0].bid_price) == "1.121200" and data[0].bid_size.as_double() == 1_000_000
    assert report.total_dropped == 0


def test_histdata_without_instrument_is_refused():
    with pytest.raises(DataQualityError, match="pass --instrument"):
        ingest("ticks-csv", [FIX / "quote_tick_data.csv"])


def test_parquet_quotes_and_trades(tmp_path):
    quotes, trades = FIX / "binance/btcusdt-quotes.parquet", FIX / "binance/btcusdt-trades.parquet"
    data, instruments, report = ingest("ticks-csv", [quotes, trades])
    assert counts(data) == {"QuoteTick": 451, "TradeTick": 2_001}
    assert_sorted(data)
    assert [i.id.value for i in instruments] == ["BTC/USDT.SIM"]
    assert instruments[0].size_precision == 6
    first_trade = next(o for o in data if isinstance(o, TradeTick))
    assert first_trade.ts_init == 1610064000278000000 and first_trade.aggressor_side == AggressorSide.SELLER
    catalog = roundtrip(tmp_path, data, instruments)
    assert len(catalog.trade_ticks()) == 2_001
    # with the 2024 spot spec (lot 1e-5) sizes below half a lot cannot be represented: dropped
    spec_data, _, spec_report = ingest("ticks-csv", [quotes, trades], instrument_id="BTCUSDT.BINANCE")
    assert spec_report.dropped["zero_size"] == 451 + 2_001 - len(spec_data)


def test_generic_csv_numeric_ms_with_sizes_and_bad_rows(tmp_path):
    path = tmp_path / "eurusd-quotes.csv"
    path.write_text(
        "timestamp,bid,ask,bid_size,ask_size\n"
        "1704067200000,1.10450,1.10460,1000000,2000000\n"
        "1704067200100,1.10451,1.10450,1000000,2000000\n"  # crossed
        "1704067200200,nan,1.10460,1000000,2000000\n"  # NaN
        "1704067200300,1.10452,1.10462,0,2000000\n"  # zero size
        "1704067200400,1.30000,1.30010,1000000,2000000\n"  # 18% jump: outlier
        "1704067200050,1.10452,1.10462,1000000,2000000\n"  # back in time
        "1704067200500,1.10453,1.10463,1000000,2000000\n",
    )
    data, instruments, report = ingest("ticks-csv", [path])
    assert [q.ts_init for q in data] == [1704067200000000000, 1704067200500000000]
    assert report.dropped == {"crossed_book": 1, "nan": 1, "zero_size": 1, "outlier": 1, "out_of_order": 1}
    assert instruments[0].id.value == "EUR/USD.SIM" and instruments[0].price_precision == 5
    assert data[0].ask_size.as_double() == 2_000_000
    with pytest.raises(DataQualityError, match=r"eurusd-quotes.csv:3: crossed_book"):
        ingest("ticks-csv", [path], strict=True)


def test_generic_csv_missing_column_and_empty(tmp_path):
    path = tmp_path / "eurusd.csv"
    path.write_text("timestamp,bid\n1704067200000,1.1\n")
    with pytest.raises(DataQualityError, match=r"eurusd.csv: bid/ask file missing column\(s\) \['ask'\]"):
        ingest("ticks-csv", [path])
    empty = tmp_path / "gbpusd.csv"
    empty.write_text("\n\n")
    with pytest.raises(DataQualityError, match="gbpusd.csv: file is empty"):
        ingest("ticks-csv", [empty])


def test_chunking_does_not_change_the_result():
    path = FIX / "quote_tick_data.csv"
    big, _, _ = ingest("ticks-csv", [path], instrument_id="EUR/USD.SIM")
    small, _, _ = ingest("ticks-csv", [path], instrument_id="EUR/USD.SIM", check=CheckConfig(chunk_rows=333))
    assert len(big) == len(small)
    assert all(repr(a) == repr(b) for a, b in zip(big, small, strict=True))


def test_quote_objects_are_quote_ticks():
    data, _, _ = ingest("tardis", [TARDIS / "huobi-dm-swap_quotes_BTC-USD.csv"])
    assert all(isinstance(q, QuoteTick) for q in data)
    deltas, _, _ = ingest("tardis", [TARDIS / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"])
    assert all(isinstance(d, OrderBookDelta) for d in deltas)
