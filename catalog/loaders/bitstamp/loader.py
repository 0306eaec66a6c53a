"""``BitstampLoader``: one capture's files -> L3 deltas and trades, in ``ts_init`` order.

Each file gets a reader (:mod:`~catalog.loaders.bitstamp.read`; which files go together is in
the package docstring); their streams are merged, and one session applies the events to the
book (:mod:`~catalog.loaders.bitstamp.book`), hands the fills it reveals to the side inference
(:mod:`~catalog.loaders.bitstamp.sides`) and writes what was done into the report's notes.

Trade output
    Trades are held back by the window (a trade message may arrive before its order events), so
    output stays in ``ts_init`` order. A trades CSV carries the exchange's own side: it is
    written (``trade_sides="file"``, default) and compared with the inference, which never sees
    that column nor the order ids (``stats.side_agreement``); with ``trade_sides="infer"`` the
    inferred sides are written instead.

Instrument: ``BTCUSD.BITSTAMP`` (from the file names, or ``instrument_id``) built from its spec in
``catalog/instruments.toml`` (or ``spec_file``): tick $0.01 fits the 2015 cents and the 2026
whole dollars, lot 1e-8 BTC.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

from nautilus_trader.core.data import Data
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.instruments import Instrument

from catalog.instruments import build_instrument, get_spec
from catalog.loaders.bitstamp.book import L3Rebuilder
from catalog.loaders.bitstamp.events import (
    _RECENT_IDS,
    MS,
    BitstampLoaderConfig,
    BitstampStats,
    Event,
    TradeEvent,
)
from catalog.loaders.bitstamp.read import FileKind, _Reader, detect_kind
from catalog.loaders.bitstamp.sides import SideInference
from catalog.loaders.tabular import check_files, merge_streams
from catalog.quality import DataQualityError, Issue, QualityReport


def instrument_id_from_names(paths: Iterable[Path]) -> str | None:
    """``bitstamp_btcusd_...`` -> ``BTCUSD.BITSTAMP`` (None if no file name says)."""
    found = set()
    for p in paths:
        m = re.match(r"bitstamp[_-]([a-z]{6,8})[_-]", p.name.lower())
        if m:
            found.add(m.group(1).upper())
    if len(found) > 1:
        raise DataQualityError(f"files name several pairs {sorted(found)}: ingest one instrument per call")
    return f"{found.pop()}.BITSTAMP" if found else None


class BitstampLoader:
    """Stream Bitstamp order-by-order captures into L3 deltas and trades (package docstring).

    Parameters
    ----------
    instrument_id : str or None
        Override the id implied by the file names (e.g. ``BTCUSD.BITSTAMP``).
    spec_file : Path or None
        Instrument spec TOML; defaults to the shipped ``catalog/instruments.toml``.
    trade_sides : {"file", "infer"}, default "file"
        Write the trades CSV's own sides, or the inferred ones.
    side_window_before_ms, side_window_after_ms : int, default 2000
        Window around a trade in which its fills are looked for.
    correction_confirmations : int, default 2
        Consecutive disagreeing snapshots before a level is corrected (0: never).
    stale_after_ms : int, default 1000
        In-flight wait after which the orders an order locks/crosses are taken as gone.
    """

    name = "bitstamp"

    def __init__(
        self,
        *,
        instrument_id: str | None = None,
        spec_file: Path | None = None,
        trade_sides: Literal["file", "infer"] = "file",
        side_window_before_ms: int = 2_000,
        side_window_after_ms: int = 2_000,
        correction_confirmations: int = 2,
        stale_after_ms: int = 1_000,
    ) -> None:
        if instrument_id:
            InstrumentId.from_str(instrument_id)
        self.config = BitstampLoaderConfig(
            instrument_id=instrument_id,
            spec_file=Path(spec_file) if spec_file is not None else None,
            trade_sides=trade_sides,
            side_window_before_ms=side_window_before_ms,
            side_window_after_ms=side_window_after_ms,
            correction_confirmations=correction_confirmations,
            stale_after_ms=stale_after_ms,
        )
        self.stats = BitstampStats()
        self._instrument: Instrument | None = None

    def instruments(self) -> list[Instrument]:
        return [self._instrument] if self._instrument is not None else []

    def iter_data(self, files: Sequence[Path], report: QualityReport) -> Iterator[Data]:
        """Yield deltas and trades of ``files`` (one capture) in ``ts_init`` order.

        Raises
        ------
        DataQualityError
            For a file that is missing, empty, damaged or of no known kind; for two sources of
            order events or of trades; and, in strict mode, for the first data problem.
        """
        paths = check_files(files, report)
        if not paths:
            raise DataQualityError("bitstamp: no input files given")
        cfg = self.config
        kinds = {p: detect_kind(p) for p in paths}
        self.stats = stats = BitstampStats(file_kinds={str(p): k for p, k in kinds.items()})
        _check_sources(kinds)
        iid = cfg.instrument_id or instrument_id_from_names(paths)
        if iid is None:
            raise DataQualityError(
                f"{paths[0]}: the file name does not say the pair (bitstamp_<pair>_...); pass --instrument",
            )
        spec = get_spec(iid, cfg.spec_file)
        instrument = build_instrument(spec)
        tick_scale = _scale(spec.tick_size, "tick_size", iid)
        lot_scale = _scale(spec.lot_size, "lot_size", iid)
        streams: list[Iterator[Event]] = []
        for p in sorted(paths, key=lambda q: _KIND_ORDER.index(kinds[q])):  # orders before trades on ties
            if kinds[p] == "meta":
                stats.meta = _read_meta(p)
                continue
            reader = _Reader(p, tick_scale, lot_scale, report, stats)
            read = {"log": reader.read_log, "orders": reader.read_orders, "trades": reader.read_trades}[kinds[p]]
            streams.append(read())
        session = _Session(instrument, cfg, report, stats, wait_for_snapshot="log" in kinds.values())
        for obj in session.run(merge_streams(streams)):
            if self._instrument is None:
                self._instrument = build_instrument(spec, ts_init=obj.ts_init)
            yield obj
        if self._instrument is None:
            self._instrument = instrument
        session.finish()


_KIND_ORDER: tuple[FileKind, ...] = ("log", "orders", "trades", "meta")


def _scale(increment: Decimal, name: str, iid: str) -> int:
    scale = 1 / increment
    if scale != scale.to_integral_value():
        raise DataQualityError(f"{iid}: {name} {increment} is not 1/n for an integer n (prices are counted in it)")
    return int(scale)


def _check_sources(kinds: dict[Path, FileKind]) -> None:
    order_sources = [p for p, k in kinds.items() if k in ("log", "orders")]
    trade_sources = [p for p, k in kinds.items() if k in ("log", "trades")]
    for what, sources in (("order events", order_sources), ("trades", trade_sources)):
        if len(sources) > 1:
            raise DataQualityError(
                f"{sources[1]}: a second source of {what} besides {sources[0]} (a log and its parsed "
                f"CSV repeat the same events): ingest one of them",
            )
    if not order_sources and not trade_sources:
        raise DataQualityError(f"{next(iter(kinds))}: only metadata given, no order events or trades")


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataQualityError(f"{path}: not a readable JSON metadata file: {e}") from e
    if not isinstance(meta, dict):
        raise DataQualityError(f"{path}: metadata is not a JSON object")
    return meta


class _Session:
    """One ``iter_data`` run: the book, the side inference and the delay line behind trades."""

    def __init__(self, instrument: Instrument, config: BitstampLoaderConfig, report: QualityReport,
                 stats: BitstampStats, *, wait_for_snapshot: bool) -> None:
        self.iid = instrument.id
        self.config = config
        self.report = report
        self.stats = stats
        self.inference = SideInference(config.side_window_before_ms * MS, config.side_window_after_ms * MS)
        self.book = L3Rebuilder(instrument, report, stats, wait_for_snapshot=wait_for_snapshot,
                                correction_confirmations=config.correction_confirmations,
                                stale_after_ms=config.stale_after_ms,
                                on_fill=self.inference.add)
        self.after_ns = config.side_window_after_ms * MS
        self._trade_ids: set[int] = set()
        self._trade_order: deque[int] = deque()

    def run(self, events: Iterable[Event]) -> Iterator[Data]:
        """Apply events in order; output waits behind a trade until its fill window has passed."""
        queue: deque[Data | TradeEvent] = deque()
        for ev in events:
            if queue:
                yield from self._release(queue, ev.ts_init)
            if isinstance(ev, TradeEvent):
                if self._new_trade(ev):
                    queue.append(ev)
                continue
            deltas = self.book.apply(ev)
            if queue:
                queue.extend(deltas)
            elif deltas:
                self.report.written("OrderBookDelta", len(deltas))
                yield from deltas
        self.book.finish()
        yield from self._release(queue, None)

    def _new_trade(self, ev: TradeEvent) -> bool:
        if ev.trade_id in self._trade_ids:
            self.stats.dropped["trade"] += 1
            self.report.problem(Issue.DUPLICATE, file=ev.file, line=ev.line, field_name="id",
                                detail=f"trade id {ev.trade_id} seen before")
            return False
        self._trade_ids.add(ev.trade_id)
        self._trade_order.append(ev.trade_id)
        if len(self._trade_order) > _RECENT_IDS:
            self._trade_ids.discard(self._trade_order.popleft())
        self.stats.kept["trade"] += 1
        return True

    def _release(self, queue: deque, now: int | None) -> Iterator[Data]:
        while queue:
            head = queue[0]
            if isinstance(head, TradeEvent):
                if now is not None and now <= head.ts_init + self.after_ns:
                    break
                queue.popleft()
                yield self._trade(head)
            else:
                queue.popleft()
                self.report.written("OrderBookDelta")
                yield head
        if now is not None:
            self.inference.prune(now)

    def _trade(self, ev: TradeEvent) -> TradeTick:
        side, rule = self.inference.infer(ev.price, ev.amount, ev.ts_init)
        self.stats.inferred[rule] += 1
        if ev.side is not None:
            if side is AggressorSide.NO_AGGRESSOR:
                self.stats.side_agreement["uninferred"] += 1
            else:
                self.stats.side_agreement["agree" if side == ev.side else "disagree"] += 1
            if self.config.trade_sides == "file":
                side, rule = ev.side, "file"
        self.stats.sides[rule if side is not AggressorSide.NO_AGGRESSOR else "none"] += 1
        self.report.written("TradeTick")
        return TradeTick(self.iid, self.book.price(ev.price), self.book.qty(ev.amount), side,
                         TradeId(str(ev.trade_id)), ev.ts_event, ev.ts_init)

    def finish(self) -> None:
        """Write what was done into the report notes (the counts behind every decision)."""
        s, cfg, notes = self.stats, self.config, self.report.notes
        notes.append(
            f"bitstamp -> {self.iid} (L3_MBO deltas with order ids): {s.events} events, {s.anchors} anchor(s); "
            f"{s.held_in_flight} orders held in flight while they would lock/cross the book "
            f"({s.released_from_flight} rested later, {s.takers_never_rested} filled or cancelled first); "
            f"book locked/crossed after {s.crossed_after_event} event(s); {s.stale_orders_removed} resting orders "
            f"taken out as gone ({s.stale_removals} times an order waited over {cfg.stale_after_ms} ms in flight "
            f"opposite them); {s.unpriced_orders} instant/unpriced orders (amount or price 0) tracked, never rested",
        )
        if not s.anchors and s.events:
            notes.append("no order_book snapshot arrived: the book was never anchored and no deltas were written")
        if s.synthetic_orders_seeded or s.snapshots_compared:
            notes.append(
                f"re-anchoring: {s.synthetic_orders_seeded} synthetic orders (ids >= 2**62) seeded by the first "
                f"snapshot for orders older than the capture, {s.synthetic_orders_added} added later; "
                f"{s.corrections} level corrections ({s.corrected_lots / 1e8:.8f} BTC) after "
                f"{cfg.correction_confirmations} agreeing snapshots; {s.excess_known} of them found more known "
                f"volume than the snapshot (known orders are left as they are); "
                f"{s.unknown_deletes_from_synthetic} deletes of unknown ids taken out of synthetic orders",
            )
        elif s.anchors and not s.kept["order_book"] and "orders" in s.file_kinds.values() and not s.image_orders:
            notes.append("no snapshot in the inputs: orders created before the capture are missing from the book")
        if s.unknown_ids:
            notes.append(f"changes/deletes of unknown order ids, counted and not emitted: {dict(s.unknown_ids)}")
        if s.snapshots_compared:
            n = s.snapshots_compared
            notes.append(
                f"rebuilt book vs {n} snapshots (before correcting): best bid and ask agree "
                f"{s.snapshot_best_agree / n:.1%}, top 5 levels {s.snapshot_top5_agree / n:.1%}, "
                f"all 20 levels {s.snapshot_all_agree / n:.1%}",
            )
        if s.sides:
            notes.append(
                f"trade sides by rule: {dict(s.sides)} (inference: {dict(s.inferred)}); {s.sides.get('none', 0)} "
                f"trade(s) written with NO_AGGRESSOR: no rule decided (no fill of the trade's size within "
                f"-{cfg.side_window_before_ms}/+{cfg.side_window_after_ms} ms, or fills on both sides of unknown size)",
            )
        agree, disagree = s.side_agreement.get("agree", 0), s.side_agreement.get("disagree", 0)
        if agree + disagree:
            notes.append(
                f"inferred sides vs the trades file's own side: {agree}/{agree + disagree} agree "
                f"({agree / (agree + disagree):.1%}); {s.side_agreement.get('uninferred', 0)} not inferred; "
                f"written: the {'file' if cfg.trade_sides == 'file' else 'inferred'} sides",
            )
        if s.ts_replayed:
            notes.append(
                f"{s.ts_replayed} live rows received while the REST book was being fetched follow it in the file: "
                f"kept in file (exchange) order with ts_init = the book's receive time (ts_init never decreases)",
            )
        if s.meta:
            read = self.report.rows_read
            got = {
                "total_order_rows": read["order_created"] + read["order_changed"] + read["order_deleted"],
                "trades": read["trade"],
                "synthetic_created": s.image_orders,
                "synthetic_deleted": s.closing_deletes,
            }
            pairs = [f"{key} {s.meta[key]} vs {n} read" + ("" if s.meta[key] == n else " (MISMATCH)")
                     for key, n in got.items() if key in s.meta]
            notes.append(f"meta.json: {'; '.join(pairs)}")


__all__ = ["BitstampLoader", "instrument_id_from_names"]
