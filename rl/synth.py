"""Synthetic market data from the Avellaneda–Stoikov model, written into a Nautilus catalog.

Why: on real data nobody knows the optimal quotes, so "the agent learned something" cannot be
checked. On data drawn from the AS model the optimum is known in closed form
(:mod:`strategies.reference`), so an agent trained *through the real environment and matching
engine* can be compared with it — the check Jerome et al. (2023, "Model-based gym environments for
limit order book trading", mbt-gym) made without a matching engine.

The model, per step of ``step_ms`` (Avellaneda & Stoikov 2008; Cartea, Jaimungal & Penalva 2015,
ch. 10):

* the mid is an arithmetic Brownian motion ``S_{k+1} = S_k + sigma * sqrt(dt) * Z``, rounded to the
  tick grid and *constant within a step*; it changes only at step boundaries;
* market sell and market buy orders each arrive as a Poisson process of rate
  ``arrival_rate_per_s``; each reaches depth ``delta ~ Exponential(kappa)`` from the mid and prints
  a trade at ``mid -/+ floor(delta / tick)`` ticks. A resting bid ``d`` whole ticks below the mid is
  therefore hit with probability ``P(delta >= d * tick) = exp(-kappa * d * tick)`` per arrival:
  exactly the model's fill probability on the tick grid.

How the Nautilus venue must be set for this to be exact (``NOTES.md`` §8; :func:`venue_model`):

* ``book_type="L1_MBP"``, ``trade_execution=True``, ``queue_position=False``: a seller-initiated
  trade at or through our bid fills it (a buyer-initiated one our ask) — the model's "market
  order reaches depth delta". The model has no queue, so the venue has none either: this is the
  one venue in the project with the queue switched off, and it is only used on this data.
* trade size ``trade_size >= order size``: one arrival fills our whole quote;
* ``prob_fill_on_limit=1.0``, zero latency, zero fees (the model has none);
* after each trade a quote tick restores the market to ``mid +/- market_half_spread_ticks`` 1 ns
  later (quotes that keep the mid). The market spread is kept wide
  (``market_half_spread_ticks``) so that the market's own quotes never cross an agent quote
  when the mid moves at a step boundary; only trades fill us;
* decisions on the same ``step_ms`` grid as the mid updates, so a quote's depth is constant
  between decisions. Trades are placed strictly inside a step, never at its boundary.

What stays discrete: at most one fill per side per step (the quote is not re-posted until the next
decision), so with ``lambda * dt`` not small the per-step fill probability is
``1 - exp(-lambda * exp(-kappa delta) * dt)``; both the agent and the reference live with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SYNTH_INSTRUMENT_ID = "ASMODEL-PERP.SIM"
MID_LEAD_NS = 1_000
"""A step's mid is published this long before the step boundary (decisions happen at boundaries)."""


@dataclass(frozen=True, kw_only=True)
class ASModelConfig:
    """Parameters of the synthetic Avellaneda–Stoikov market.

    Parameters
    ----------
    instrument_id : str
        Id of the synthetic linear perpetual (venue ``SIM``).
    start : str
        UTC start of the data (ISO-8601).
    duration_s : float
        Length of the generated session.
    step_ms : int
        Mid-update (and intended decision) interval.
    s0 : float
        Initial mid (price units).
    sigma_ticks_per_sqrt_s : float
        Volatility of the arithmetic Brownian mid, ticks per sqrt(second).
    arrival_rate_per_s : float
        ``lambda``: market-order arrivals per second on each side.
    kappa_per_tick : float
        ``kappa``: a quote ``d`` ticks deep is reached by an arrival with probability
        ``exp(-kappa * d)``.
    tick_size, lot_size : str
        Instrument grid (decimal strings).
    trade_size : float
        Size of every market order; must be >= the agent's order size.
    market_half_spread_ticks : int
        Half-spread of the market's own quotes; keep it larger than any quote depth you use plus
        the largest mid step (so market quotes never cross resting agent quotes).
    seed : int
        Seed of the generator (``numpy.random.default_rng``).
    """

    instrument_id: str = SYNTH_INSTRUMENT_ID
    start: str = "2024-01-01T00:00:00Z"
    duration_s: float = 3600.0
    step_ms: int = 1000
    s0: float = 100.0
    sigma_ticks_per_sqrt_s: float = 1.0
    arrival_rate_per_s: float = 1.0
    kappa_per_tick: float = 0.2
    tick_size: str = "0.01"
    lot_size: str = "1"
    trade_size: float = 1.0
    market_half_spread_ticks: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"ASModelConfig.{name}: {why} (got {getattr(self, name)!r})")

        for name in ("duration_s", "s0", "arrival_rate_per_s", "kappa_per_tick", "trade_size"):
            if not float(getattr(self, name)) > 0:
                raise bad(name, "must be > 0")
        if self.sigma_ticks_per_sqrt_s < 0:
            raise bad("sigma_ticks_per_sqrt_s", "must be >= 0")
        if not isinstance(self.step_ms, int) or self.step_ms < 2:
            raise bad("step_ms", "must be an integer >= 2")
        if self.market_half_spread_ticks < 1:
            raise bad("market_half_spread_ticks", "must be >= 1")
        for name in ("tick_size", "lot_size"):
            if not Decimal(getattr(self, name)) > 0:
                raise bad(name, "must be > 0")
        if Decimal(str(self.trade_size)) % Decimal(self.lot_size) != 0:
            raise bad("trade_size", f"must be a multiple of lot_size {self.lot_size}")
        if self.s0 / float(self.tick_size) <= 10 * self.market_half_spread_ticks:
            raise bad("s0", "too close to zero for the market spread")
        try:
            pd.Timestamp(self.start)
        except ValueError as e:
            raise bad("start", "not an ISO-8601 time") from e

    @property
    def start_ns(self) -> int:
        ts = pd.Timestamp(self.start)
        return int((ts if ts.tzinfo else ts.tz_localize("UTC")).value)

    @property
    def n_steps(self) -> int:
        return int(self.duration_s * 1000 // self.step_ms)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.n_steps * self.step_ms * 1_000_000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def instrument_spec(config: ASModelConfig):  # noqa: ANN201 - catalog.instruments.InstrumentSpec
    """The synthetic instrument: a linear perpetual without fees on venue SIM."""
    from catalog.instruments import InstrumentSpec

    symbol = config.instrument_id.rsplit(".", 1)[0]
    return InstrumentSpec(
        instrument_id=config.instrument_id,
        kind="crypto_perpetual",
        raw_symbol=symbol,
        base="BTC",
        quote="USDT",
        settlement="USDT",
        tick_size=Decimal(config.tick_size),
        lot_size=Decimal(config.lot_size),
        min_quantity=Decimal(config.lot_size),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )


def venue_model(config: ASModelConfig, *, seed: int = 0):  # noqa: ANN201 - VenueModelConfig
    """The venue settings under which Nautilus fills resting quotes exactly as the model does."""
    from backtests.venue import VenueModelConfig

    return VenueModelConfig(
        venue=config.instrument_id.rsplit(".", 1)[-1],
        oms_type="NETTING",
        account_type="MARGIN",
        base_currency="USDT",
        starting_balances=("1000000 USDT",),
        default_leverage=10.0,
        book_type="L1_MBP",
        latency_base_ns=0,
        fee_model="fixed_rates",
        maker_fee="0",
        taker_fee="0",
        prob_fill_on_limit=1.0,
        prob_slippage=0.0,
        trade_execution=True,
        queue_position=False,
        liquidity_consumption=False,
        seed=seed,
    )


@dataclass(frozen=True)
class SynthPaths:
    """The generated event arrays (ticks / ns), before conversion to Nautilus objects."""

    step_ts_ns: np.ndarray  # boundary of each step (its mid is quoted MID_LEAD_NS earlier)
    mid_ticks: np.ndarray  # mid of each step, integer ticks
    trade_ts_ns: np.ndarray
    trade_px_ticks: np.ndarray
    trade_is_buy: np.ndarray  # True: market buy (hits asks), False: market sell (hits bids)
    trade_step: np.ndarray


def simulate(config: ASModelConfig) -> SynthPaths:
    """Draw the mid path and the market orders (pure NumPy; see the module docstring)."""
    rng = np.random.default_rng(config.seed)
    n = config.n_steps
    dt_s = config.step_ms / 1000.0
    tick = float(config.tick_size)
    s0_ticks = config.s0 / tick
    increments = rng.standard_normal(n) * config.sigma_ticks_per_sqrt_s * math.sqrt(dt_s)
    increments[0] = 0.0
    mid_ticks = np.rint(s0_ticks + np.cumsum(increments)).astype(np.int64)
    step_ns = config.step_ms * 1_000_000
    step_ts = config.start_ns + np.arange(n, dtype=np.int64) * step_ns

    ts_parts, px_parts, buy_parts, step_parts = [], [], [], []
    for is_buy in (False, True):
        counts = rng.poisson(config.arrival_rate_per_s * dt_s, size=n)
        steps = np.repeat(np.arange(n), counts)
        # strictly inside the step: (1 ms, step - 1 ms), so decisions at boundaries see no trade
        offsets = rng.uniform(1_000_000, step_ns - 1_000_000, size=len(steps)).astype(np.int64)
        depth_ticks = np.floor(rng.exponential(1.0 / config.kappa_per_tick, size=len(steps)))
        depth_ticks = np.minimum(depth_ticks, config.market_half_spread_ticks).astype(np.int64)
        px = mid_ticks[steps] + (depth_ticks if is_buy else -depth_ticks)
        ts_parts.append(step_ts[steps] + offsets)
        px_parts.append(px)
        buy_parts.append(np.full(len(steps), is_buy))
        step_parts.append(steps)
    ts = np.concatenate(ts_parts)
    order = np.argsort(ts, kind="stable")
    trade_ts = ts[order]
    # Two arrivals in the same nanosecond would share a restoring quote; nudge them apart.
    for i in range(1, len(trade_ts)):
        if trade_ts[i] <= trade_ts[i - 1] + 1:
            trade_ts[i] = trade_ts[i - 1] + 2
    return SynthPaths(
        step_ts_ns=step_ts,
        mid_ticks=mid_ticks,
        trade_ts_ns=trade_ts,
        trade_px_ticks=np.concatenate(px_parts)[order],
        trade_is_buy=np.concatenate(buy_parts)[order],
        trade_step=np.concatenate(step_parts)[order],
    )


def iter_data(config: ASModelConfig, paths: SynthPaths | None = None) -> Iterator[Any]:
    """Yield Nautilus ``QuoteTick``/``TradeTick`` objects in ``ts_init`` order."""
    from nautilus_trader.model.data import QuoteTick, TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import InstrumentId, TradeId
    from nautilus_trader.model.objects import Price, Quantity

    paths = paths or simulate(config)
    iid = InstrumentId.from_str(config.instrument_id)
    tick = Decimal(config.tick_size)
    prec = max(0, -tick.normalize().as_tuple().exponent)
    size_prec = max(0, -Decimal(config.lot_size).normalize().as_tuple().exponent)
    book_size = Quantity(Decimal(str(config.trade_size)) * 100, size_prec)
    trade_size = Quantity(Decimal(str(config.trade_size)), size_prec)
    hs = config.market_half_spread_ticks

    def px(ticks: int) -> Price:
        return Price(Decimal(int(ticks)) * tick, prec)

    def quote(ts: int, mid: int) -> QuoteTick:
        return QuoteTick(iid, px(mid - hs), px(mid + hs), book_size, book_size, ts, ts)

    n_trades = len(paths.trade_ts_ns)
    j = 0
    for k in range(len(paths.step_ts_ns)):
        mid = int(paths.mid_ticks[k])
        # The new mid is published 1 us before the step boundary, so a decision taken at the
        # boundary already sees it (the first step publishes at the start itself).
        yield quote(int(paths.step_ts_ns[k]) - (MID_LEAD_NS if k > 0 else 0), mid)
        while j < n_trades and paths.trade_step[j] == k:
            ts = int(paths.trade_ts_ns[j])
            aggressor = AggressorSide.BUYER if paths.trade_is_buy[j] else AggressorSide.SELLER
            yield TradeTick(iid, px(paths.trade_px_ticks[j]), trade_size, aggressor, TradeId(f"S{j}"), ts, ts)
            yield quote(ts + 1, mid)  # restore the market around the unchanged mid
            j += 1


@dataclass(frozen=True)
class SynthResult:
    """What :func:`write_as_model` wrote."""

    catalog_path: str
    instrument_id: str
    start_ns: int
    end_ns: int
    quotes: int
    trades: int
    config: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_as_model(config: ASModelConfig, catalog_path: str | Path, *, progress: bool = False) -> SynthResult:
    """Generate the model's data and write it (and the instrument) into ``catalog_path`` atomically.

    A JSON sidecar ``synth/<instrument>.json`` in the catalog records the exact model parameters,
    which is what the reference strategy and ``docs/results.md`` read back. A catalog that already
    holds the instrument from another model (another seed or parameter) is refused before anything
    is written: the two paths would interleave in one series and the sidecar would describe
    neither. The same model again adds nothing (its rows are exact duplicates).
    """
    import json

    from catalog.instruments import build_instrument
    from catalog.writer import StagedCatalogWriter

    sidecar = Path(catalog_path) / "synth" / f"{config.instrument_id}.json"
    if sidecar.exists():
        held = json.loads(sidecar.read_text())["config"]
        wanted = json.loads(json.dumps(config.to_dict()))
        changed = sorted(k for k in held.keys() | wanted.keys() if held.get(k) != wanted.get(k))
        if changed:
            raise ValueError(
                f"{catalog_path}: already holds synthetic {config.instrument_id} from another model "
                f"({', '.join(f'{k} {held.get(k)} -> {wanted.get(k)}' for k in changed)}); two paths would "
                "interleave in one series: write into another catalog (or give this model another instrument id)",
            )
    paths = simulate(config)
    stream: Iterator[Any] = iter_data(config, paths)
    if progress:
        from tqdm import tqdm

        total = len(paths.step_ts_ns) + 2 * len(paths.trade_ts_ns)
        stream = tqdm(stream, total=total, desc="synth as-model", unit=" events", unit_scale=True)
    catalog_path = Path(catalog_path)
    with StagedCatalogWriter(catalog_path) as writer:
        writer.extend(stream)
        writer.add_instruments([build_instrument(instrument_spec(config))])
        writer.commit()
    result = SynthResult(
        catalog_path=str(catalog_path),
        instrument_id=config.instrument_id,
        start_ns=int(paths.step_ts_ns[0]),
        end_ns=config.end_ns,
        quotes=len(paths.step_ts_ns) + len(paths.trade_ts_ns),
        trades=len(paths.trade_ts_ns),
        config=config.to_dict(),
    )
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(result.as_dict(), indent=2))
    return result


def read_model(catalog_path: str | Path, instrument_id: str = SYNTH_INSTRUMENT_ID) -> ASModelConfig:
    """Read back the model parameters :func:`write_as_model` recorded in the catalog."""
    import json

    sidecar = Path(catalog_path) / "synth" / f"{instrument_id}.json"
    if not sidecar.exists():
        raise FileNotFoundError(f"{sidecar}: no synthetic-model record; run `amm synth as-model` first")
    return ASModelConfig(**json.loads(sidecar.read_text())["config"])


# -- experiment wiring: the env, reward and windows under which the reference is optimal ------------

SYNTH_Q_MAX_UNITS = 5
SYNTH_RUNNING_PENALTY = 1.25  # per step on (q/q_max)^2: phi = 1.25 / (25 * 1 s) = 0.05 ticks/unit^2/s


SYNTH_REWARDS = ("mark_to_mid", "risk_neutral")


def synth_reward(kind: str, running_inventory_penalty: float = SYNTH_RUNNING_PENALTY) -> dict[str, Any]:
    """``RewardConfig`` fields of the synthetic experiment.

    ``mark_to_mid``: PnL change marked to mid minus the running penalty, the CJP criterion the
    reference is optimal for; every comparison is scored with it (:func:`compare`).
    ``risk_neutral``: the same minus ``q_{t-1} (S_t - S_{t-1})``. The model's mid is a martingale
    independent of the fills, so that term has zero expectation under every policy and the
    optimum is unchanged (Cartea, Jaimungal & Penalva 2015, ch. 10), but it is most of the
    per-step variance (``Var = E[q^2] sigma^2 dt``, several ticks^2 a step against a spread
    signal of a fraction of a tick): training on it is a variance reduction, not a new objective.
    """
    from rl.config import RewardConfig

    if kind == "mark_to_mid":
        cfg = RewardConfig(running_inventory_penalty=running_inventory_penalty)
    elif kind == "risk_neutral":
        cfg = RewardConfig.risk_neutral(running_inventory_penalty=running_inventory_penalty)
    else:
        raise ValueError(f"synth reward must be one of {SYNTH_REWARDS}, got {kind!r}")
    return {"dampening": cfg.dampening, "eta": cfg.eta, "running_inventory_penalty": cfg.running_inventory_penalty}


def synth_action(config: ASModelConfig, action_kind: str) -> dict[str, Any]:
    """``ActionConfig`` fields centred on the model's neutral depth ``1/kappa``.

    The continuous action ``a[0] = 0`` is a half-spread of ``1/kappa`` ticks (the optimum at zero
    inventory far from the horizon), ``a[0] = +-1`` is ``1/kappa +- 0.8/kappa``; ``a[1] = +-1`` is a
    skew of ``+-1/kappa`` ticks. The closed-form optimum (``|skew| <= 3.9``, half-spread in
    ``[5, 5.9]`` ticks for the default model) lies well inside, so the untrained policy starts at
    the naive optimum and has only the inventory skew to learn. The discrete grid offers depths
    from the touch of the market's own (wide) quotes, which cannot express the optimum, so it
    is not used for the reference comparison.
    """
    neutral = 1.0 / config.kappa_per_tick
    return {
        "kind": action_kind,
        "min_half_spread_ticks": 0.2 * neutral,
        "max_half_spread_ticks": 1.8 * neutral,
        "max_skew_ticks": neutral,
    }


def synth_env(
    config: ASModelConfig,
    catalog_path: str | Path,
    *,
    horizon_steps: int = 300,
    action_kind: str = "continuous",
    running_inventory_penalty: float = SYNTH_RUNNING_PENALTY,
    reward: str = "mark_to_mid",
) -> dict[str, Any]:
    """``EnvConfig`` fields (plain data) of the synthetic experiment.

    Decisions every ``step_ms`` (aligned with mid updates by the trainer's ``align_starts_ms``),
    one unit per quote, ``|q| <= SYNTH_Q_MAX_UNITS``, reward = PnL in ticks minus the running
    penalty (or its risk-neutral part, :func:`synth_reward`), no terminal penalty
    (``alpha = 0``), no fees: the criterion of :mod:`strategies.reference` with
    ``phi = phi_from_reward(...)``. Actions: :func:`synth_action`.
    """
    return {
        "catalog_path": str(catalog_path),
        "agent": {
            "instrument_id": config.instrument_id,
            "book_type": "L1_MBP",
            "decision_interval_ms": config.step_ms,
            "warmup_ms": 2 * config.step_ms,
            "horizon_steps": horizon_steps,
            "order_qty": float(config.trade_size),
            "max_inventory": float(config.trade_size) * SYNTH_Q_MAX_UNITS,
            "refresh_threshold_ticks": 1,
            "action": synth_action(config, action_kind),
        },
        "reward": synth_reward(reward, running_inventory_penalty),
        "venue": venue_model(config).to_dict(),
        "seed_policy": "episode",
    }


def synth_hyperparams_file(algorithm: str) -> Path | None:
    """``rl/hyperparams/<algo>-synth.yml`` where the synthetic experiment has its own version."""
    from rl.train import HYPERPARAMS_DIR

    path = HYPERPARAMS_DIR / f"{algorithm}-synth.yml"
    return path if path.exists() else None


def synth_run_config(
    config: ASModelConfig,
    catalog_path: str | Path,
    *,
    algorithm: str,
    exp: str = "synth",
    total_timesteps: int = 200_000,
    horizon_steps: int = 300,
    train_fraction: float = 0.7,
    validation_fraction: float = 0.15,
    seed: int = 0,
    reward: str = "risk_neutral",
) -> dict[str, Any]:
    """A complete run config (YAML-able) over the synthetic session split train/val/test in time.

    Trains on the ``reward`` of :func:`synth_reward` (risk-neutral by default; validation
    episodes used for model selection score the same reward) with the algorithm's synthetic
    hyperparameter version where there is one (:func:`synth_hyperparams_file`); the test
    comparison (:func:`compare`) always scores the true criterion.
    """
    from rl.agents import ACTION_MODES

    start, end = config.start_ns, config.end_ns
    span = end - start
    t1 = start + int(span * train_fraction)
    t2 = t1 + int(span * validation_fraction)
    env = synth_env(config, catalog_path, horizon_steps=horizon_steps, action_kind=ACTION_MODES[algorithm],
                    reward=reward)
    env["window_start"], env["window_end"] = start, t1 - 1
    hp_file = synth_hyperparams_file(algorithm)
    return {
        "exp": exp,
        "algorithm": algorithm,
        "seed": seed,
        "total_timesteps": total_timesteps,
        **({"hyperparams_file": str(hp_file)} if hp_file is not None else {}),
        "env": env,
        "validation": {"start": t1, "end": t2 - 1},
        "test": {"start": t2, "end": end},
        "eval_freq_steps": 10_000,
        "eval_episodes": 5,
        "checkpoint_freq_steps": 20_000,
        "align_starts_ms": config.step_ms,
    }


# -- the reference and the naive baseline as policies of the env (SB3's predict surface) ------------


class ReferencePolicy:
    """The CJP optimal depths (:mod:`strategies.reference`) as a continuous-action policy.

    Reads inventory (``OBS_NAMES`` index 9, ``position / max_inventory``) and time left (index 11)
    from the observation and returns the action whose half-spread/skew puts the quotes at the
    optimal depths, so it runs through the env and through ``PolicyMarketMaker`` like any model.
    """

    def __init__(self, model: ASModelConfig, env_config: Any, *, stationary: bool = False) -> None:
        from strategies.reference import optimal_depths, phi_from_reward

        agent = env_config.agent
        if agent.action.kind != "continuous":
            raise ValueError("ReferencePolicy needs the continuous action space")
        self.q_max = int(round(agent.max_inventory / agent.order_qty))
        dt_s = agent.decision_interval_ms / 1000.0
        self.horizon_s = agent.horizon_steps * dt_s
        self.depths = optimal_depths(
            kappa_per_tick=model.kappa_per_tick,
            arrival_rate_per_s=model.arrival_rate_per_s,
            phi=phi_from_reward(env_config.reward.running_inventory_penalty, self.q_max, dt_s),
            q_max=self.q_max,
            horizon_s=None if stationary else self.horizon_s,
            dt_s=dt_s,
        )
        a = agent.action
        self._hs_mid = (a.min_half_spread_ticks + a.max_half_spread_ticks) / 2
        self._hs_half = (a.max_half_spread_ticks - a.min_half_spread_ticks) / 2
        self._skew_max = a.max_skew_ticks
        self._fallback = 1.0 / model.kappa_per_tick

    def action_for(self, q_units: int, time_left_s: float | None) -> np.ndarray:
        bid, ask = self.depths.at(q_units, time_left_s)
        # A side that must not quote (at the inventory bound) is cut by the quote manager's hard
        # limit anyway; give it the model's neutral depth so the other side keeps its own depth.
        bid = self._fallback if math.isnan(bid) else bid
        ask = self._fallback if math.isnan(ask) else ask
        hs, skew = (bid + ask) / 2, (bid - ask) / 2
        a0 = (hs - self._hs_mid) / self._hs_half
        a1 = skew / self._skew_max if self._skew_max > 0 else 0.0
        return np.clip(np.array([a0, a1], dtype=np.float32), -1.0, 1.0)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation, dtype=np.float64)
        batch = obs.reshape(-1, obs.shape[-1])
        out = np.stack([
            self.action_for(int(round(row[9] * self.q_max)), float(row[11]) * self.horizon_s) for row in batch
        ])
        return (out if obs.ndim > 1 else out[0]), None


class FixedSpreadPolicy:
    """Naive baseline: a constant symmetric half-spread, no inventory skew."""

    def __init__(self, env_config: Any, half_spread_ticks: float) -> None:
        a = env_config.agent.action
        mid, half = (a.min_half_spread_ticks + a.max_half_spread_ticks) / 2, (a.max_half_spread_ticks - a.min_half_spread_ticks) / 2
        self._action = np.array([(half_spread_ticks - mid) / half, 0.0], dtype=np.float32)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation)
        return (np.tile(self._action, (obs.shape[0], 1)) if obs.ndim > 1 else self._action.copy()), None


def criterion_env(env: dict[str, Any], catalog_path: str | Path) -> dict[str, Any]:
    """``env`` (run-config data) with the reward replaced by the true criterion.

    Whatever reward a run trained on (e.g. ``risk_neutral``), every policy is scored with PnL
    marked to mid minus the same running penalty: the objective the reference is optimal for.
    """
    import copy

    env = copy.deepcopy(dict(env))
    penalty = float((env.get("reward") or {}).get("running_inventory_penalty", SYNTH_RUNNING_PENALTY))
    return {**env, "reward": synth_reward("mark_to_mid", penalty), "catalog_path": str(catalog_path)}


def compare(
    catalog_path: str | Path,
    runs: list[str | Path],
    *,
    config: str | Path | None = None,
    episodes: int = 20,
    fixed_half_spreads: list[float] = (1.0, 5.0),
) -> dict[str, Any]:
    """Evaluate the reference, trained agents and fixed spreads on the same TEST episodes.

    Every policy plays the same ``episodes`` evenly spaced, step-aligned episodes of the run
    config's *test* window (never used in training or model selection), with the venue's fixed
    fill seed, deterministic actions, and each agent's verified ``VecNormalize`` statistics.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    from strategies.model_store import load_model
    from rl.manifest import load_vecnormalize
    from rl.train import RunConfig, build_vec_env, load_run_config, resume_config

    model_cfg = read_model(catalog_path)
    if runs:
        base = resume_config(runs[0])
    elif config is not None:
        base = load_run_config(config, catalog=catalog_path)
    else:
        raise ValueError("give run directories or --config")
    if base.test is None:
        raise ValueError("the run config has no test window")
    def scored(env: dict[str, Any]) -> dict[str, Any]:
        return criterion_env(env, catalog_path)

    # The reference needs the continuous action parameterisation the agents used.
    cfg = RunConfig.from_dict({**base.to_dict(), "algorithm": "ppo", "eval_episodes": episodes,
                               "env": scored(base.to_dict()["env"])})
    test_cfg = cfg.env_config(cfg.test, random_start=False, seed_policy="venue")

    def run(policy: Any, venv: Any) -> list[float]:
        venv.env_method("rewind")
        rewards, _ = evaluate_policy(policy, venv, n_eval_episodes=episodes, deterministic=True,
                                     return_episode_rewards=True)
        return [float(r) for r in rewards]

    rows: list[dict[str, Any]] = []
    venv = build_vec_env(cfg, kind="test", run_dir=None)
    try:
        rows.append({"name": "reference (CJP closed form)", "rewards": run(ReferencePolicy(model_cfg, test_cfg), venv)})
        for hs in fixed_half_spreads:
            rows.append({"name": f"fixed half-spread {hs:g} ticks", "rewards": run(FixedSpreadPolicy(test_cfg, hs), venv)})
    finally:
        venv.close()
    for run_dir in runs:
        run_cfg = resume_config(run_dir)
        run_cfg = RunConfig.from_dict({**run_cfg.to_dict(), "eval_episodes": episodes, "env": scored(run_cfg.to_dict()["env"])})
        model_path = Path(run_dir) / "model.zip"
        model, manifest = load_model(model_path)
        env = build_vec_env(run_cfg, kind="test", run_dir=None)
        env = load_vecnormalize(model_path, manifest, env)
        try:
            rows.append({"name": f"{run_cfg.algorithm} seed {run_cfg.seed} ({Path(run_dir).name})",
                         "algorithm": run_cfg.algorithm, "seed": run_cfg.seed, "rewards": run(model, env)})
        finally:
            env.close()
    ref = float(np.mean(rows[0]["rewards"]))
    for row in rows:
        row["mean_reward"] = float(np.mean(row["rewards"]))
        row["std_reward"] = float(np.std(row["rewards"]))
        row["ratio_to_reference"] = row["mean_reward"] / ref if ref else float("nan")
    summary: dict[str, Any] = {}
    for algo in sorted({r["algorithm"] for r in rows if "algorithm" in r}):
        means = [r["mean_reward"] for r in rows if r.get("algorithm") == algo]
        summary[algo] = {"seeds": len(means), "mean_of_means": float(np.mean(means)),
                         "std_of_means": float(np.std(means)), "ratio_to_reference": float(np.mean(means)) / ref}
    return {"episodes": episodes, "test_window": {"start": cfg.test.start, "end": cfg.test.end}, "model": model_cfg.to_dict(),
            "rows": rows, "by_algorithm": summary}
