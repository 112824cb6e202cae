"""A Gate.io API v4 spot-compatible exchange simulator, for tests and `manage.py simulate_exchange`.

    sim = ExchangeSimulator(api_key="sim-key", api_secret="sim-secret", balances={"USDT": Decimal("10000")},
                            symbols=["BTC/USDT", "ETH/USDT"], seed=1)
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    server.url              # http://127.0.0.1:PORT/api/v4 -> every entry of ccxt.gate().urls["api"]
    sim.set_price("BTC/USDT", Decimal("50000"))   # crosses resting orders and price-triggered orders
    sim.faults.set("create_order", drop_response_rate=1.0)
    server.stop()

Python helpers (no API call, "behind the bot's back"): `set_price(symbol, price, max_fill=None)`, `walk()`,
`cancel_behind_back(order_id)`, `fill_open_orders(symbol=None, order_id=None, ratio=1)`,
`add_historical_orders(symbol, count, hours=24, fills_per_order=1, cancelled_share=0)`, `set_balance()`,
`balance(cur) -> (available, locked)`, `orders_with_text(text)`, `order_count(symbol=None, status=None)`,
`open_orders()`, `finished_orders()`, `trades()`, `rate_limited_count` (429s for exceeding the budget),
`limiter.reset()`, `clock` (replaceable), `cancelled_retention_sec` (60), `max_fill_quote` (liquidity cap),
`cancel_price_order_behind_back(id)`.

Gate.io's documented rules are always on (list limits and windows, string times, 401 for a stale Timestamp, rate
limits per endpoint / per market with X-Gate-RateLimit-* headers: see api.py, auth.py, ratelimit.py). Behaviour
switches where Gate.io is silent or varies (`switches.SETTINGS`; constructor kwargs, `sim.configure(**kw)`,
`/_control/settings`): visibility_lag_sec, omit_market_filled_amount, open_limit_over_max (refuse | clamp),
price_order_cancelled_status (cancelled | canceled), fired_price_order_cancel (not_found | fired),
unified_account, text_lookup_grace_sec, cancelled_retention_sec.

Faults (`sim.faults`, `faults.py`): `set(endpoint, latency_ms=, error_rate=, error_status=, rate_limit_rate=,
timeout_rate=, disconnect_rate=, drop_response_rate=, late_execution_rate=, late_ms=, times=)` per route name
(`server.ROUTES`: create_order, get_order, cancel_order, list_orders, open_orders, my_trades, tickers,
candlesticks, accounts, currency_pairs, ...; `*` for all), `clear()`, `hang_sec`, `drop_mode` ("close" |
"hang"), `injected` counts, `late` (outcomes of late executions).

Control endpoint (no signing, not rate limited): `GET /_control/state`; `POST /_control/faults` (a rule
`{"endpoint": "create_order", "drop_response_rate": 1}`, `{"rules": {...}}`, `{"clear": true}`,
`{"hang_sec": 2, "drop_mode": "hang"}`), `/_control/price {"symbol", "price", "max_fill"?}`,
`/_control/cancel {"order_id"}`, `/_control/fill {"symbol"?, "order_id"?, "ratio"?}`,
`/_control/walk {"steps", "volatility"}`, `/_control/balance {"currency", "available"}`,
`/_control/history {"symbol", "count", "hours"}`, `/_control/reset_rate_limit`,
`/_control/settings {name: value}` (GET: the switches), `/_control/cancel_price_order {"order_id"}`.

Engine state lives in `engine.ExchangeSimulator` (thread-safe), endpoints in `api.py`, HTTP in `server.py`,
fault injection in `faults.py`. The simulator needs no database and no Django.
"""

from apps.exchange.simulator.engine import ExchangeSimulator
from apps.exchange.simulator.errors import SimError
from apps.exchange.simulator.faults import FaultRule, Faults
from apps.exchange.simulator.server import ROUTES, SimulatorServer

__all__ = ["ROUTES", "ExchangeSimulator", "FaultRule", "Faults", "SimError", "SimulatorServer"]
