"""A Gate.io API v4 spot-compatible exchange simulator, for tests and `manage.py simulate_exchange`.

    sim = ExchangeSimulator(api_key="sim-key", api_secret="sim-secret", balances={"USDT": Decimal("10000")},
                            symbols=["BTC/USDT", "ETH/USDT"], seed=1)
    server = SimulatorServer(sim, host="127.0.0.1", port=0).start()
    server.url              # http://127.0.0.1:PORT/api/v4 -> every entry of ccxt.gate().urls["api"]
    sim.set_price("BTC/USDT", Decimal("50000"))   # crosses resting orders and price-triggered orders
    sim.faults.set("create_order", drop_response_rate=1.0)
    server.stop()

Engine state lives in `engine.ExchangeSimulator` (thread-safe), endpoints in `api.py`, HTTP in `server.py`,
fault injection in `faults.py`. The simulator needs no database and no Django.
"""

from apps.exchange.simulator.engine import ExchangeSimulator
from apps.exchange.simulator.errors import SimError
from apps.exchange.simulator.faults import FaultRule, Faults
from apps.exchange.simulator.server import ROUTES, SimulatorServer

__all__ = ["ROUTES", "ExchangeSimulator", "FaultRule", "Faults", "SimError", "SimulatorServer"]
