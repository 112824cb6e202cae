"""The HTTP face of the simulator: Gate.io API v4 spot under /api/v4, a control API under /_control."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from apps.exchange.simulator import api
from apps.exchange.simulator.auth import verify
from apps.exchange.simulator.engine import ExchangeSimulator
from apps.exchange.simulator.errors import SimError
from apps.exchange.simulator.faults import DISCONNECT, DROP, ERROR, LATE, RATE_LIMIT, TIMEOUT
from apps.exchange.simulator.markets import fmt
from apps.exchange.simulator.orders import SimOrder
from apps.exchange.simulator.ratelimit import rate_limit_headers

PREFIX = "/api/v4"
Handler = Callable[[ExchangeSimulator, api.Request], object]

# (method, path pattern, route name used by faults and counters, handler, private?)
ROUTES: list[tuple[str, re.Pattern[str], str, Handler, bool]] = [
    (m, re.compile(f"^{p}$"), name, h, private)
    for m, p, name, h, private in [
        ("GET", "/spot/currency_pairs", "currency_pairs", api.currency_pairs, False),
        ("GET", "/spot/currency_pairs/(?P<pair>[^/]+)", "currency_pair", api.currency_pair, False),
        ("GET", "/margin/currency_pairs", "margin_currency_pairs", api.margin_currency_pairs, False),
        ("GET", "/spot/currencies", "currencies", api.currencies, False),
        ("GET", "/spot/time", "time", api.server_time, False),
        ("GET", "/spot/tickers", "tickers", api.tickers, False),
        ("GET", "/spot/candlesticks", "candlesticks", api.candlesticks, False),
        ("GET", "/account/detail", "account_detail", api.account_detail, True),
        ("GET", "/spot/accounts", "accounts", api.accounts, True),
        ("POST", "/spot/orders", "create_order", api.create_order, True),
        ("GET", "/spot/orders", "list_orders", api.list_orders, True),
        ("GET", "/spot/orders/(?P<order_id>[^/]+)", "get_order", api.get_order, True),
        ("DELETE", "/spot/orders/(?P<order_id>[^/]+)", "cancel_order", api.cancel_order, True),
        ("GET", "/spot/open_orders", "open_orders", api.open_orders, True),
        ("GET", "/spot/my_trades", "my_trades", api.my_trades, True),
        ("POST", "/spot/countdown_cancel_all", "countdown_cancel_all", api.countdown_cancel_all, True),
        ("POST", "/spot/price_orders", "create_price_order", api.create_price_order, True),
        ("GET", "/spot/price_orders", "list_price_orders", api.list_price_orders, True),
        ("GET", "/spot/price_orders/(?P<order_id>[^/]+)", "get_price_order", api.get_price_order, True),
        ("DELETE", "/spot/price_orders/(?P<order_id>[^/]+)", "cancel_price_order", api.cancel_price_order, True),
    ]
]


class _Dropped(Exception):
    """The answer is lost on purpose (fault injection)."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: SimulatorServer) -> None:
        self.owner = owner
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # ----- plumbing -----------------------------------------------------------------------------------
    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, default=_json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self, hang: bool) -> None:
        """Lose the answer: keep the client waiting (hang) or close the socket at once."""
        if hang:
            self.server.owner.stopping.wait(self.server.owner.sim.faults.hang_sec)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        self._limit_headers: dict[str, str] | None = None
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if parts.path.startswith("/_control/"):
                self._send(200, owner.control(method, parts.path[len("/_control/") :], _json_body(body)))
            elif parts.path.startswith(PREFIX + "/"):
                self._api(method, parts.path, parts.query, body)
            else:
                self._send(404, {"label": "NOT_FOUND", "message": "Not found"})
        except _Dropped as drop:
            self._drop(drop.hang)
        except SimError as exc:
            self._send(exc.status, exc.as_json(), getattr(self, "_limit_headers", None))
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"label": "INVALID_PARAM_VALUE", "message": str(exc)})

    def _api(self, method: str, path: str, raw_query: str, body: bytes) -> None:
        owner, sim = self.server.owner, self.server.owner.sim
        sub = path[len(PREFIX) :]
        found = _route(method, sub)
        if found is None:
            raise SimError(404, "NOT_FOUND", f"{method} {path} is not served by the simulator")
        name, handler, private, match = found
        owner.calls[name] += 1
        headers = {k.lower(): v for k, v in self.headers.items()}
        key = headers.get("key")
        who = key if private and key else f"ip:{self.client_address[0]}"
        parsed_body = _json_body(body)
        pair = str(parsed_body.get("currency_pair", "")) if isinstance(parsed_body, dict) else ""
        state = sim.limiter.hit(who, name, pair)
        limit_headers = self._limit_headers = rate_limit_headers(state)
        if not state.allowed:
            self._send(429, {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"}, limit_headers)
            return
        decision = sim.faults.decide(name)
        if decision.latency_ms:
            owner.stopping.wait(decision.latency_ms / 1000)
        if decision.action == ERROR:
            status = decision.error_status
            self._send(status, {"label": "SERVER_ERROR", "message": "Internal server error (injected)"})
            return
        if decision.action == RATE_LIMIT:
            self._send(429, {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"}, limit_headers)
            return
        if decision.action in (TIMEOUT, DISCONNECT):
            raise _Dropped(hang=decision.action == TIMEOUT)
        if private:
            verify(
                api_key=sim.api_key,
                api_secret=sim.api_secret,
                headers=headers,
                method=method,
                path=path,
                raw_query=raw_query,
                body=body,
                now=time.time(),
            )
        expires = headers.get("x-gate-exptime")
        if expires and expires.isdigit() and int(time.time() * 1000) > int(expires):
            raise SimError(403, "REQUEST_EXPIRED", "Request expired (x-gate-exptime)")
        request = api.Request(
            query=dict(parse_qsl(raw_query, keep_blank_values=True)),
            body=parsed_body,
            path=match.groupdict(),
            headers=headers,
        )
        if decision.action == LATE:
            owner.execute_late(name, handler, request, decision.late_ms, expires)
            raise _Dropped(hang=sim.faults.drop_mode == "hang")
        result = handler(sim, request)
        if decision.action == DROP:
            raise _Dropped(hang=sim.faults.drop_mode == "hang")
        self._send(200, result, limit_headers)


def _route(method: str, sub_path: str) -> tuple[str, Handler, bool, re.Match[str]] | None:
    for m, pattern, name, handler, private in ROUTES:
        match = pattern.match(sub_path)
        if match and m == method:
            return name, handler, private, match
    return None


def _json_body(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        raise SimError(400, "INVALID_REQUEST_BODY", "Request body is not valid JSON") from None


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return fmt(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class SimulatorServer:
    """Serve an ExchangeSimulator over HTTP on a background thread: `start()`, `url`, `stop()`."""

    def __init__(self, sim: ExchangeSimulator, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.sim = sim
        self.verbose = verbose
        self.calls: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Gate.io API base, e.g. http://127.0.0.1:8765/api/v4 (what GATEIO_API_URL takes)."""
        return self.base_url + PREFIX

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="gate-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def execute_late(self, name: str, handler: Handler, request: api.Request, late_ms: float, expires: str | None):
        """Run a request later, on a thread, as a stuck Gate.io queue would: after `late_ms`, but never after
        the request's x-gate-exptime (with late_ms 0 it runs just before that moment, or after hang_sec)."""
        delay = late_ms / 1000 if late_ms else None
        if expires and expires.isdigit():
            room = int(expires) / 1000 - time.time() - 0.05
            delay = max(0.0, room if delay is None else min(delay, room))
        if delay is None:
            delay = self.sim.faults.hang_sec

        def run() -> None:
            if self.stopping.wait(delay):
                return
            if expires and expires.isdigit() and time.time() * 1000 > int(expires):
                # the thread itself ran late (a loaded machine): Gate.io would drop it now, and so do we
                self.sim.faults.record_late(name, "REQUEST_EXPIRED")
                return
            try:
                handler(self.sim, request)
                self.sim.faults.record_late(name, "executed")
            except SimError as exc:
                self.sim.faults.record_late(name, exc.label)

        threading.Thread(target=run, name=f"late-{name}", daemon=True).start()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- control API (no signing: loopback test tooling) ---------------------------------------------
    def control(self, method: str, action: str, body: object) -> object:
        sim = self.sim
        data = body if isinstance(body, dict) else {}
        if method == "GET" and action == "state":
            return self.state()
        if method == "GET" and action == "settings":
            return sim.settings()
        if method != "POST":
            raise SimError(404, "NOT_FOUND", f"unknown control action {method} {action}")
        if action == "faults":
            sim.faults.configure(data)
            return sim.faults.as_json()
        if action == "settings":
            return sim.configure(**data)
        if action == "price":
            max_fill = data.get("max_fill")
            trades = sim.set_price(
                str(data["symbol"]),
                Decimal(str(data["price"])),
                max_fill=Decimal(str(max_fill)) if max_fill is not None else None,
            )
            return {"price": fmt(sim.price(str(data["symbol"]))), "trades": [t.as_json() for t in trades]}
        if action == "cancel":
            return sim.cancel_behind_back(str(data["order_id"])).as_json()
        if action == "cancel_price_order":
            return sim.cancel_price_order_behind_back(str(data["order_id"])).as_json()
        if action == "fill":
            trades = sim.fill_open_orders(
                data.get("symbol"),
                order_id=data.get("order_id"),
                ratio=Decimal(str(data.get("ratio", "1"))),
            )
            return {"trades": [t.as_json() for t in trades]}
        if action == "walk":
            for _ in range(int(data.get("steps", 1))):
                sim.walk(Decimal(str(data.get("volatility", "0.0005"))))
            return self.state()
        if action == "balance":
            sim.set_balance(str(data["currency"]), Decimal(str(data["available"])))
            return {"balances": _balances_json(sim)}
        if action == "history":
            orders = sim.add_historical_orders(
                str(data["symbol"]), int(data["count"]), hours=float(data.get("hours", 24))
            )
            return {"created": len(orders)}
        if action == "reset_rate_limit":
            sim.limiter.reset()
            return {"ok": True}
        raise SimError(404, "NOT_FOUND", f"unknown control action {action}")

    def state(self) -> dict:
        sim = self.sim
        with sim.lock:
            return {
                "url": self.url,
                "prices": {spec.symbol: fmt(sim.price(spec.pair)) for spec in sim.markets.values()},
                "regimes": {spec.symbol: sim.regime(spec.pair) for spec in sim.markets.values()},
                "recent_orders": [_order_json(o) for o in sim.recent_orders(10)],
                "balances": _balances_json(sim),
                "open_orders": len(sim.open_orders()),
                "orders": sim.order_count(),
                "trades": len(sim.trades()),
                "price_orders_open": sum(1 for po in sim.price_orders() if po.status == "open"),
                "rate_limited": sim.rate_limited_count,
                "calls": dict(self.calls),
                "faults": sim.faults.as_json(),
                "settings": sim.settings(),
            }


def _order_json(order: SimOrder) -> dict[str, str]:
    """An order as the operator watching the demo reads it (the last ten are in /_control/state)."""
    return {
        "id": order.id,
        "symbol": f"{order.base}/{order.quote}",
        "side": order.side,
        "type": order.type,
        "amount": fmt(order.amount),
        "price": fmt(order.price),
        "status": order.status,
        "filled_amount": fmt(order.filled_amount),
        "filled_total": fmt(order.filled_total),
        "text": order.text,
    }


def _balances_json(sim: ExchangeSimulator) -> dict[str, dict[str, str]]:
    return {c: {"available": fmt(a), "locked": fmt(locked)} for c, (a, locked) in sim.balances().items()}
