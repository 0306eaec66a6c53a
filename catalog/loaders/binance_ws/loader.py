"""``amm ingest binance-ws``: :class:`BinanceWsLoader`, a capture's files through one :class:`Session`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from nautilus_trader.core.data import Data
from nautilus_trader.model.instruments import Instrument

from catalog.instruments import build_instrument, get_spec
from catalog.loaders.binance_ws.config import BinanceWsLoaderConfig, BinanceWsStats
from catalog.loaders.binance_ws.convert import Session
from catalog.loaders.binance_ws.read import gzip_lines, identify, probe
from catalog.loaders.binance_ws.wire import binance_instrument_id
from catalog.quality import DataQualityError, QualityReport


class BinanceWsLoader:
    """Stream Binance raw WebSocket captures (``binance_ws/*.gz``) into Nautilus data.

    Several files are one continuous capture: they are ordered by their first local timestamp
    and the depth synchronisation state carries over from one file to the next (the
    ``*_20240808.gz`` snapshot seeds the book that ``*_20240809.gz`` keeps updating). See the
    module docstring for the synchronisation, timestamp and validation rules.

    Parameters
    ----------
    instrument_id : str or None
        Override the instrument id derived from the stream (e.g. ``BTCUSDT-PERP.BINANCE``).
    spec_file : Path or None
        Instrument spec TOML with tick/lot sizes; defaults to the shipped specs.
    time_gap_threshold_s : float, default 30.0
        Pauses longer than this between consecutive lines are marked ``TIME_GAP``.
    outlier_threshold_bps : float, default 500.0
        Quotes and trades further than this from the last good mid are dropped as ``OUTLIER``.
    """

    name = "binance-ws"

    def __init__(
        self,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        time_gap_threshold_s: float = 30.0,
        outlier_threshold_bps: float = 500.0,
    ) -> None:
        self.config = BinanceWsLoaderConfig(
            instrument_id=instrument_id,
            spec_file=Path(spec_file) if spec_file is not None else None,
            time_gap_threshold_s=time_gap_threshold_s,
            outlier_threshold_bps=outlier_threshold_bps,
        )
        self.stats = BinanceWsStats()
        self._instrument: Instrument | None = None

    native_market_known = True
    """The stream names the market (spot, USD-M, COIN-M): a ``-PERP`` label must agree with it."""

    def instruments(self) -> list[Instrument]:
        """The instrument of the last stream (empty before ``iter_data`` has started)."""
        return [self._instrument] if self._instrument is not None else []

    def losses(self) -> dict[str, tuple[int, int]]:
        """``{input kind: (rows dropped, rows read)}`` of the last stream."""
        kinds = self.stats.kept.keys() | self.stats.dropped.keys()
        return {k: (self.stats.dropped[k], self.stats.kept[k] + self.stats.dropped[k]) for k in sorted(kinds)}

    def native_instrument_ids(self) -> list[str]:
        """The id the stream itself names (symbol and market), whatever ``instrument_id`` says."""
        if not self.stats.symbol:
            return []
        return [binance_instrument_id(self.stats.symbol, self.stats.market)]

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        """Yield deltas, quotes and trades of ``files`` (one capture) in ``ts_init`` order.

        Raises
        ------
        DataQualityError
            For a file that is empty, not gzip or truncated; for files mixing symbols or markets;
            and, in strict mode, for the first data problem (file:line: issue in field).
        """
        paths = [Path(f) for f in files]
        if not paths:
            raise DataQualityError("binance-ws: no input files given")
        report.files.extend(str(p) for p in paths)
        heads = sorted((probe(p) for p in paths), key=lambda h: h.first_ts)
        symbol, market = identify(heads)
        iid = self.config.instrument_id or binance_instrument_id(symbol, market)
        spec = get_spec(iid, self.config.spec_file)
        self._instrument = build_instrument(spec, ts_init=heads[0].first_ts)
        self.stats = BinanceWsStats(
            market=market, symbol=symbol, files_in_order=[str(h.path) for h in heads],
        )
        session = Session(self._instrument, market, symbol, self.config, report, self.stats)
        for head in heads:
            yield from session.run(str(head.path), gzip_lines(head.path))
        session.finish()
