"""`manage.py simulate_exchange`: serve the bundled Gate.io API v4 spot simulator on 127.0.0.1.

Exit codes (CONTRACT.md): 0 stopped cleanly (SIGTERM / Ctrl-C), 1 could not serve (port taken), 2 bad arguments.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.exchange.simulator import ExchangeSimulator, SimulatorServer
from apps.exchange.simulator.process import DEFAULT_VOLATILITY


def parse_balances(text: str) -> dict[str, Decimal]:
    """`USDT=10000,BTC=0` -> {"USDT": Decimal("10000"), "BTC": Decimal("0")}."""
    balances: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        currency, sep, amount = item.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not currency.strip().isalnum() or not value.is_finite() or value < 0:
            raise ValueError(f"--balance: {item!r} is not CURRENCY=AMOUNT (e.g. USDT=10000,BTC=0)")
        balances[currency.strip().upper()] = value
    return balances


def parse_symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if s.count("/") != 1 or not all(p.isalnum() for p in s.split("/"))]
    if not symbols or bad:
        raise ValueError(f"--symbols: {', '.join(bad) or 'nothing'} is not a list of unified symbols like BTC/USDT")
    return symbols


class Command(BaseCommand):
    help = "Serve a Gate.io API v4 spot-compatible exchange simulator (under /api/v4) until SIGTERM or Ctrl-C."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> None:
            if getattr(parser, "called_from_command_line", False):
                sys.stderr.write(f"simulate_exchange: error: {message}\n")
                sys.exit(2)
            raise CommandError(f"Error: {message}", returncode=2)

        parser.error = one_line_error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
        parser.add_argument("--api-key", default=None, help="accepted KEY (default GATEIO_API_KEY or sim-key)")
        parser.add_argument("--api-secret", default=None, help="secret (default GATEIO_API_SECRET or sim-secret)")
        parser.add_argument("--balance", default="USDT=10000,BTC=0", help="starting balances, e.g. USDT=10000,BTC=0")
        parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT", help="listed pairs (default BTC/USDT,ETH/USDT)")
        parser.add_argument("--tick-sec", type=float, default=1.0, help="seconds between price moves (0: none)")
        parser.add_argument(
            "--volatility",
            default=str(DEFAULT_VOLATILITY),
            help=f"std. deviation of a calm minute's relative move, history and live (default {DEFAULT_VOLATILITY})",
        )
        parser.add_argument(
            "--rate-limit", type=int, default=200, help="calls per 10 s per endpoint and key or IP (default 200)"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a behaviour switch, e.g. --set visibility_lag_sec=3 (see /_control/settings); repeatable",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object with the URL instead of text")

    def handle(self, *args, **options) -> None:
        try:
            balances = parse_balances(options["balance"])
            symbols = parse_symbols(options["symbols"])
            volatility = Decimal(options["volatility"])
            if not volatility.is_finite() or not 0 <= volatility < Decimal("0.1"):
                raise ValueError("--volatility must be a number in [0, 0.1)")
            if not 0 <= options["port"] <= 65535:
                raise ValueError("--port must be in 0..65535")
            if options["tick_sec"] < 0 or options["rate_limit"] < 1:
                raise ValueError("--tick-sec must be >= 0 and --rate-limit >= 1")
            switches = dict(item.partition("=")[::2] for item in options["set"])
        except (ValueError, InvalidOperation) as exc:
            message = str(exc) if str(exc).startswith("--") else f"bad argument: {exc}"
            raise CommandError(message, returncode=2) from None
        api_key = options["api_key"] or getattr(settings, "GATEIO_API_KEY", "") or "sim-key"
        api_secret = options["api_secret"] or getattr(settings, "GATEIO_API_SECRET", "") or "sim-secret"
        sim = ExchangeSimulator(
            api_key=api_key,
            api_secret=api_secret,
            balances=balances,
            symbols=symbols,
            seed=options["seed"],
            rate_limit=options["rate_limit"],
            volatility=float(volatility),
        )
        try:
            sim.configure(**switches)
        except ValueError as exc:
            raise CommandError(f"--set: {exc}", returncode=2) from None
        try:
            server = SimulatorServer(sim, host=options["host"], port=options["port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc}", returncode=1) from None
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        server.start()
        if options["json"]:
            self.stdout.write(json.dumps({"url": server.url, "symbols": symbols}))
        else:
            self.stdout.write(f"Gate.io simulator serving {', '.join(symbols)} at {server.url}")
            self.stdout.write(f"Control: {server.base_url}/_control/state; stop with Ctrl-C or SIGTERM")
        self.stdout.flush()
        try:
            while not stop.wait(options["tick_sec"] or 3600):
                if options["tick_sec"]:
                    sim.advance()  # the live path continues the history's price process
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write("Simulator stopped.")
