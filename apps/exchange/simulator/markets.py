"""Currency pairs the simulator lists, with Gate.io-like precision and minimums, and number formatting."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from apps.exchange.simulator.errors import invalid_param


@dataclass(frozen=True)
class MarketSpec:
    pair: str  # Gate.io id, e.g. BTC_USDT
    base: str
    quote: str
    amount_precision: int
    precision: int  # price decimals
    min_base_amount: Decimal
    min_quote_amount: Decimal
    initial_price: Decimal
    fee_percent: Decimal = Decimal("0.2")

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def amount_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.amount_precision)

    @property
    def price_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.precision)

    def round_price(self, price: Decimal) -> Decimal:
        return price.quantize(self.price_step, rounding=ROUND_HALF_UP)

    def floor_amount(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.amount_step, rounding=ROUND_DOWN)

    def as_json(self) -> dict:
        """The shape of one entry of `GET /spot/currency_pairs`."""
        return {
            "id": self.pair,
            "base": self.base,
            "base_name": self.base,
            "quote": self.quote,
            "quote_name": self.quote,
            "fee": fmt(self.fee_percent),
            "min_base_amount": fmt(self.min_base_amount),
            "min_quote_amount": fmt(self.min_quote_amount),
            "max_base_amount": "",
            "max_quote_amount": "5000000",
            "amount_precision": self.amount_precision,
            "precision": self.precision,
            "trade_status": "tradable",
            "sell_start": 1516378650,
            "buy_start": 1516378650,
            "delisting_time": 0,
            "type": "normal",
            "trade_url": f"https://www.gate.io/trade/{self.pair}",
            "st_tag": False,
        }


# Figures close to Gate.io's own listing.
_KNOWN: dict[str, tuple[int, int, str, str, str]] = {
    # base: (amount_precision, price precision, min_base_amount, min_quote_amount, initial price)
    "BTC": (6, 1, "0.00001", "3", "50000"),
    "ETH": (4, 2, "0.0001", "3", "3000"),
    "SOL": (3, 3, "0.001", "3", "150"),
    "BNB": (3, 2, "0.001", "3", "600"),
    "XRP": (2, 5, "0.1", "3", "0.6"),
    "DOGE": (1, 6, "1", "3", "0.15"),
}


def market_spec(symbol: str) -> MarketSpec:
    """Build the spec of a unified symbol (BTC/USDT); unknown bases get generic figures."""
    base, sep, quote = symbol.upper().partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"{symbol!r} is not a unified symbol like BTC/USDT")
    amount_prec, price_prec, min_base, min_quote, price = _KNOWN.get(base, (4, 4, "0.001", "3", "100"))
    if quote != "USDT":
        min_quote = "0.0001"
    return MarketSpec(
        pair=f"{base}_{quote}",
        base=base,
        quote=quote,
        amount_precision=amount_prec,
        precision=price_prec,
        min_base_amount=Decimal(min_base),
        min_quote_amount=Decimal(min_quote),
        initial_price=Decimal(price),
    )


def fmt(value: Decimal | int | None) -> str:
    """A Decimal as Gate.io writes numbers: a plain string, no exponent, no trailing zeros."""
    if value is None:
        return "0"
    d = Decimal(value)
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def parse_decimal(value: object, name: str) -> Decimal:
    """Parse a request number (string or JSON number) as Decimal; a bad value is INVALID_PARAM_VALUE."""
    if value is None or isinstance(value, bool):
        raise invalid_param(f"invalid argument: {name}")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid_param(f"invalid argument: {name}") from None
    if not d.is_finite():
        raise invalid_param(f"invalid argument: {name}")
    return d


def decimals_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
