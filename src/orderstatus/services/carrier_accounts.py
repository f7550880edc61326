"""A shop's carrier accounts: the credentials the poller asks carriers with.

Credentials are secrets. They are read in full only by the poller; everything meant for
display gets a masked copy, so an admin page or a log line cannot leak them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderstatus.carriers.connectors import CONNECTORS, Connector, connector_for
from orderstatus.db.models import CarrierAccount, Fulfillment
from orderstatus.domain.errors import Invalid, NotFound

MAX_CREDENTIAL_LENGTH = 1024
MASK = "••••"
HINT_MIN_LENGTH = 12
"""A value shorter than this shows no characters at all, even for an identifier."""


@dataclass(frozen=True, slots=True)
class CarrierAccountView:
    """A carrier account as an admin page shows it: which fields are set, never their values."""

    carrier: str
    label: str
    carriers: tuple[str, ...]
    credentials: dict[str, str]
    created_at: datetime
    updated_at: datetime


def mask(connector: Connector, name: str, value: str) -> str:
    """A credential for display: identifiers keep their last four characters so staff can
    tell two accounts apart; secrets keep nothing."""
    if name in connector.hints and len(value) >= HINT_MIN_LENGTH:
        return MASK + value[-4:]
    return MASK


def _view(connector: Connector, account: CarrierAccount) -> CarrierAccountView:
    return CarrierAccountView(
        carrier=connector.name,
        label=connector.label,
        carriers=connector.carriers,
        credentials={
            name: mask(connector, name, str(value))
            for name, value in sorted(account.credentials.items())
            if value
        },
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def _connector(carrier: str) -> Connector:
    connector = connector_for(carrier)
    if connector is None:
        known = ", ".join(sorted(CONNECTORS))
        raise Invalid(
            f"carrier {carrier!r} cannot be polled (polling supports {known})",
            fields={"carrier": "unsupported"},
        )
    return connector


def _clean(connector: Connector, credentials: Mapping[str, object]) -> dict[str, str]:
    unknown = sorted(set(credentials) - set(connector.fields))
    if unknown:
        raise Invalid(
            f"{connector.label} takes {', '.join(connector.fields)}; not {', '.join(unknown)}",
            fields={name: "unknown" for name in unknown},
        )
    cleaned: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name in connector.fields:
        value = credentials.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value.strip()) > MAX_CREDENTIAL_LENGTH:
            problems[name] = "invalid"
            continue
        if value.strip():
            cleaned[name] = value.strip()
    problems |= {name: "required" for name in connector.required if name not in cleaned}
    if problems:
        raise Invalid(
            f"{connector.label} credentials: "
            + ", ".join(f"{name} {what}" for name, what in sorted(problems.items())),
            fields=problems,
        )
    return cleaned


async def set_carrier_account(
    session: AsyncSession, *, shop_id: int, carrier: str, credentials: Mapping[str, object]
) -> CarrierAccountView:
    """Store (or replace) the shop's credentials for a carrier.

    ``carrier`` is the connector's name or one of our carrier codes it serves. Shipments
    that were backing off after failed polls are asked about again at once, since the
    failures were most likely the old credentials.
    """
    connector = _connector(carrier)
    cleaned = _clean(connector, credentials)
    account = await session.scalar(
        select(CarrierAccount).where(
            CarrierAccount.shop_id == shop_id, CarrierAccount.carrier == connector.name
        )
    )
    now = datetime.now(UTC)
    if account is None:
        account = CarrierAccount(
            shop_id=shop_id,
            carrier=connector.name,
            credentials=cleaned,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
    else:
        account.credentials = cleaned
        account.updated_at = now
    await session.flush()
    await session.execute(
        update(Fulfillment)
        .where(
            Fulfillment.shop_id == shop_id,
            Fulfillment.carrier_code.in_(connector.carriers),
            Fulfillment.poll_failures > 0,
        )
        .values(next_poll_at=None, poll_failures=0)
    )
    return _view(connector, account)


async def list_carrier_accounts(session: AsyncSession, *, shop_id: int) -> list[CarrierAccountView]:
    """The shop's carrier accounts, masked, by label."""
    accounts = await session.scalars(
        select(CarrierAccount).where(CarrierAccount.shop_id == shop_id)
    )
    views = [
        _view(CONNECTORS[account.carrier], account)
        for account in accounts
        if account.carrier in CONNECTORS
    ]
    return sorted(views, key=lambda view: view.label.casefold())


async def delete_carrier_account(session: AsyncSession, *, shop_id: int, carrier: str) -> None:
    """Forget the shop's credentials for a carrier; its shipments are no longer polled."""
    connector = _connector(carrier)
    result = await session.execute(
        delete(CarrierAccount)
        .where(CarrierAccount.shop_id == shop_id, CarrierAccount.carrier == connector.name)
        .returning(CarrierAccount.id)
    )
    if result.first() is None:
        raise NotFound(f"no {connector.label} account for this shop")
