"""Customers' hourly rates: the list, and a change that is checked, audited and saved together or not at all."""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from hubtui.store import rates as rate_store
from hubtui.store.audit import AuditRecord, record
from hubtui.store.db import Database
from hubtui.store.rates import CustomerRate

log = logging.getLogger(__name__)


class RateRefused(ValueError):
    """An hourly rate that was not saved; the message says why and what to do, the old rate stays."""


# customer.hourly_rate is numeric(12, 2) (store/models.py); tests check the two agree.
RATE_DIGITS, RATE_DECIMALS = 12, 2
RATE_MAX = Decimal(10 ** (RATE_DIGITS - RATE_DECIMALS)) - Decimal(1).scaleb(-RATE_DECIMALS)


def checked_rate(rate: Decimal | None) -> Decimal | None:
    """The rate as the column stores it (None stays None: the default applies), or RateRefused saying why
    not, logged, before anything touches the database."""
    if rate is None:
        return None
    cent = Decimal(1).scaleb(-RATE_DECIMALS)
    problem = None
    if not rate.is_finite() or rate < 0:
        problem = "is not 0 or more"
    elif rate > RATE_MAX:  # before the decimals: quantizing a huge number overflows
        problem = "is too large"
    elif rate != rate.quantize(cent):
        problem = f"has more than {RATE_DECIMALS} decimals"
    if problem is not None:
        message = (f"{rate} {problem}: an hourly rate is 0 or more, at most {RATE_MAX:,}, with at most "
                   f"{RATE_DECIMALS} decimals; the rate was not changed")
        log.warning("hourly rate refused: %s", message)
        raise RateRefused(message)
    return rate.quantize(cent)


class HourlyRates:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_rate(self, customer_id: int, rate: Decimal | None) -> None:
        """Set (None: clear) a customer's hourly rate; the change and its audit event commit together.

        RateRefused, with the old rate left as it was, for a rate the column cannot hold or a customer that
        is gone."""
        rate = checked_rate(rate)
        try:
            async with self.db.pool.acquire() as conn, conn.transaction():
                # Locked, so a concurrent change cannot slip between the read and the audited "before".
                before = await rate_store.lock_rate(conn, customer_id)
                if before is None or not await rate_store.set_rate(conn, customer_id, rate):
                    raise RateRefused(f"customer {customer_id} no longer exists in the hub; nothing was saved. "
                                      "Reload the list (leave and press F7 again)")
                await record(conn, AuditRecord(
                    event_type="rate_changed", entity_type="customer", entity_id=str(customer_id),
                    customer_id=customer_id, system="hub", outcome="written",
                    before={"hourly_rate": before.hourly_rate}, after={"hourly_rate": rate},
                ))
        except RateRefused as error:
            log.warning("hourly rate of customer %s not saved: %s", customer_id, error)
            raise
        except asyncpg.PostgresError as error:
            log.error("hourly rate of customer %s not saved: %s", customer_id, error)
            raise RateRefused(f"the rate was not saved, the old rate stays (database said: {error}); "
                              "try again, and check hubtui.log if it keeps failing") from None

    async def rates(self) -> list[CustomerRate]:
        """Customers with time entries or their own rate, by name."""
        return await rate_store.customer_rates(self.db.pool)
