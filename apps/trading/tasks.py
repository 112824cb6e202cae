"""The trading cycle task, one per symbol on each candle close (see apps.operations.schedule)."""

from celery import shared_task

from apps.exchange import services as exchange_services
from apps.operations.periodic import run_periodic
from apps.trading.cycle import eval_and_execute


@shared_task(name="trading.cycle", acks_late=True)
def trading_cycle(symbol: str, timeframe: str) -> str | None:
    result = run_periodic(
        f"trading.cycle:{symbol}",
        lambda: eval_and_execute(symbol=symbol, timeframe=timeframe, broker=exchange_services.get_broker()),
    )
    return None if result is None else result.note
