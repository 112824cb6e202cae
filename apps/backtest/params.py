"""What a backtest runs with: the live settings by default, any of them overridden per run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from apps.risk.selectors import Limits
from apps.signals.build import REQUIRED_CANDLES
from apps.signals.fusion import validate_weights
from apps.signals.policy import Thresholds
from tradebot.config import parse_hours

DEFAULT_WINDOW = 200  # the closed candles each decision sees: the trading cycle's and /api/eval's default limit
MAX_WINDOW = 1000
DEFAULT_INITIAL_CASH = Decimal("1000")


class ParameterError(ValueError):
    """A backtest parameter that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class BacktestParams:
    weights: dict[str, float]
    thresholds: Thresholds
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    fee_pct: Decimal  # charged on each fill's quote value
    slippage_bps: Decimal  # against us on every fill
    initial_cash: Decimal  # the simulated account's quote balance; equity and drawdown start from it
    window: int  # closed candles per decision
    limits: Limits

    @classmethod
    def from_settings(
        cls, overrides: Mapping[str, Any] | None = None, *, limits: Limits | None = None
    ) -> BacktestParams:
        """The live parameters (SIGNAL_*, STOP_LOSS_PCT, TAKE_PROFIT_PCT, PAPER_FEE_PCT, PAPER_SLIPPAGE_BPS and
        the risk limits) with `overrides` applied; raises ParameterError naming a bad key."""
        base = cls(
            weights=validate_weights(settings.SIGNAL_WEIGHTS),
            thresholds=Thresholds(float(settings.SIGNAL_ENTRY_THRESHOLD), float(settings.SIGNAL_EXIT_THRESHOLD)),
            stop_loss_pct=Decimal(settings.STOP_LOSS_PCT),
            take_profit_pct=Decimal(settings.TAKE_PROFIT_PCT),
            fee_pct=Decimal(settings.PAPER_FEE_PCT),
            slippage_bps=Decimal(settings.PAPER_SLIPPAGE_BPS),
            initial_cash=DEFAULT_INITIAL_CASH,
            window=DEFAULT_WINDOW,
            limits=limits or Limits.from_settings(),
        )
        return base.with_overrides(overrides or {})

    def with_overrides(self, overrides: Mapping[str, Any]) -> BacktestParams:
        unknown = sorted(set(overrides) - set(_PARSERS))
        if unknown:
            raise ParameterError(unknown[0], f"unknown parameter; expected one of {', '.join(sorted(_PARSERS))}")
        params = self
        for key, value in overrides.items():
            try:
                params = _PARSERS[key](params, value)
            except ParameterError:
                raise
            except (ValueError, TypeError, InvalidOperation, ArithmeticError) as exc:
                raise ParameterError(key, f"{value!r} is not usable: {exc}") from None
        return params

    def as_json(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "entry_threshold": self.thresholds.entry,
            "exit_threshold": self.thresholds.exit,
            "stop_loss_pct": str(self.stop_loss_pct),
            "take_profit_pct": str(self.take_profit_pct),
            "fee_pct": str(self.fee_pct),
            "slippage_bps": str(self.slippage_bps),
            "initial_cash": str(self.initial_cash),
            "window": self.window,
            **self.limits.as_dict(),
        }


def _decimal(value: Any, key: str, low: Decimal, high: Decimal, *, low_inclusive: bool = False) -> Decimal:
    bound = "from" if low_inclusive else "above"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ParameterError(key, f"{value!r} must be a number {bound} {low} up to {high}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ParameterError(key, f"{value!r} must be a number {bound} {low} up to {high}") from None
    if not number.is_finite() or number > high or number < low or (number == low and not low_inclusive):
        raise ParameterError(key, f"{value!r} must be a number {bound} {low} up to {high}")
    return number


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ParameterError(key, f"{value!r} must be a whole number from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise ParameterError(key, f"{number} is outside {low}..{high}")
    return number


def _thresholds(params: BacktestParams, entry: float, exit_: float, key: str) -> BacktestParams:
    try:
        return replace(params, thresholds=Thresholds(entry=float(entry), exit=float(exit_)))
    except ValueError as exc:
        raise ParameterError(key, str(exc)) from None


def _weights(params: BacktestParams, value: Any) -> BacktestParams:
    if not isinstance(value, Mapping):
        raise ParameterError("weights", "must be an object of feature name to number")
    try:
        return replace(params, weights=validate_weights({str(k): float(v) for k, v in value.items()}))
    except (ValueError, TypeError) as exc:
        raise ParameterError("weights", str(exc)) from None


def _limits(params: BacktestParams, **changes: Any) -> BacktestParams:
    return replace(params, limits=replace(params.limits, **changes))


def _hours(params: BacktestParams, value: Any) -> BacktestParams:
    try:
        return _limits(params, hours=parse_hours(str(value)))
    except ValueError:
        raise ParameterError("hours", f"{value!r} is not a UTC window HH:MM-HH:MM such as 08:00-20:00") from None


HUNDRED, BIG = Decimal(100), Decimal(10) ** 12
_PARSERS = {
    "weights": _weights,
    "entry_threshold": lambda p, v: _thresholds(p, v, p.thresholds.exit, "entry_threshold"),
    "exit_threshold": lambda p, v: _thresholds(p, p.thresholds.entry, v, "exit_threshold"),
    "stop_loss_pct": lambda p, v: replace(p, stop_loss_pct=_decimal(v, "stop_loss_pct", Decimal(0), HUNDRED)),
    "take_profit_pct": lambda p, v: replace(p, take_profit_pct=_decimal(v, "take_profit_pct", Decimal(0), BIG)),
    "fee_pct": lambda p, v: replace(p, fee_pct=_decimal(v, "fee_pct", Decimal(0), Decimal(10), low_inclusive=True)),
    "slippage_bps": lambda p, v: replace(
        p, slippage_bps=_decimal(v, "slippage_bps", Decimal(0), Decimal(1000), low_inclusive=True)
    ),
    "initial_cash": lambda p, v: replace(p, initial_cash=_decimal(v, "initial_cash", Decimal(0), BIG)),
    "window": lambda p, v: replace(p, window=_int(v, "window", REQUIRED_CANDLES, MAX_WINDOW)),
    "position_size_usd": lambda p, v: _limits(p, position_size_usd=_decimal(v, "position_size_usd", Decimal(0), BIG)),
    "max_positions": lambda p, v: _limits(p, max_positions=_int(v, "max_positions", 1, 1000)),
    "max_drawdown_pct": lambda p, v: _limits(p, max_drawdown_pct=_decimal(v, "max_drawdown_pct", Decimal(0), HUNDRED)),
    "max_consecutive_losses": lambda p, v: _limits(
        p, max_consecutive_losses=_int(v, "max_consecutive_losses", 1, 1000)
    ),
    "loss_cooldown_min": lambda p, v: _limits(p, loss_cooldown_min=_int(v, "loss_cooldown_min", 0, 100_000)),
    "hours": _hours,
}


def parameter_names() -> list[str]:
    """Every parameter a run (or a sweep's grid) may override."""
    return sorted(_PARSERS)
