"""Each connector's map: the platform's amounts become totals that add up, as the
platform says them (taxes included or not), and its statuses become ours."""

from __future__ import annotations

import copy
import json

import pytest

from orderstatus.connectors import (
    Message,
    PayloadError,
    SignedRequest,
    saleor,
    shopify,
    woocommerce,
)
from orderstatus.domain.inputs import OrderInput
from orderstatus.domain.statuses import EventStatus
from tests.connectors import samples


def totals(fields: dict[str, object]) -> tuple[str, ...]:
    data = OrderInput.model_validate(fields)
    t = data.checked_totals(taxes_included=False)  # raises when they do not add up
    return tuple(str(v) for v in (t.subtotal, t.shipping, t.discount, t.tax, t.total))


def test_woocommerce_prices_with_tax_included_add_up() -> None:
    order = samples.fixture("woocommerce_order")
    order["prices_include_tax"] = True
    # The coupon takes 40 (and 9 of tax) off the first line, 10 off the second.
    order["line_items"][0]["total_tax"] = "81.00"
    order["discount_tax"] = "9.00"
    order["shipping_tax"] = "24.75"
    order["total_tax"] = "178.00"  # 81 + 72.25 + 24.75
    order["total"] = "927.00"  # lines 650 + their tax 153.25 + shipping 99 + its tax 24.75
    mapped = woocommerce.map(Message("order.updated", "1", order))
    assert mapped is not None and mapped.order is not None
    assert totals(mapped.order) == ("862.25", "123.75", "59.00", "178.00", "927.00")
    assert mapped.order["totals"]["taxes_included"] is True


def test_woocommerce_statuses() -> None:
    order = samples.fixture("woocommerce_order")
    for status, cancelled, shipped in (
        ("processing", False, 0),
        ("completed", False, 1),
        ("cancelled", True, 0),
        ("refunded", True, 0),
    ):
        mapped = woocommerce.map(Message("order.updated", None, {**order, "status": status}))
        assert mapped is not None
        assert (mapped.cancelled, len(mapped.shipments)) == (cancelled, shipped), status
    deleted = woocommerce.map(Message("order.deleted", None, {"id": 727}))
    assert deleted is not None and deleted.deleted and deleted.order is None


def test_woocommerce_ping_is_answered_without_a_signature() -> None:
    ping = SignedRequest(body=b"webhook_id=12", headers={})
    woocommerce.verify(ping, "any secret at all")
    assert woocommerce.parse(ping).ping


@pytest.mark.parametrize(("given", "ours"), sorted(shopify.SHIPMENT_STATUS.items()))
def test_shopify_shipment_statuses_become_events(given: str, ours: EventStatus) -> None:
    fulfillment = samples.fixture("shopify_fulfillment")
    fulfillment["shipment_status"] = given
    mapped = shopify.map(Message("fulfillments/update", "1", fulfillment))
    assert mapped is not None and mapped.order is None
    [shipment] = mapped.shipments
    assert shipment.status is ours and shipment.items == {"866550311766439020": 1}
    assert shipment.tracking_number == "1Z2345" and shipment.carrier == "UPS"


def test_saleor_net_prices_add_tax_on_top() -> None:
    payload = copy.deepcopy(samples.fixture("saleor_order"))
    payload["order"]["displayGrossPrices"] = False
    mapped = saleor.map(Message("order_created", None, payload))
    assert mapped is not None and mapped.order is not None
    assert totals(mapped.order) == ("320.00", "50.00", "0.00", "92.50", "462.50")
    assert mapped.order["locale"] == "nb-no"
    assert [i["price"] for i in mapped.order["line_items"]] == ["40.00", "200.00"]


def test_a_saleor_body_signed_with_another_payload_is_refused() -> None:
    key = samples.SaleorInstance()
    body = json.dumps(samples.fixture("saleor_order")).encode()
    signature = key.sign(body)
    good = SignedRequest(body=body, headers={"saleor-signature": signature})
    saleor.verify(good, saleor.Key("secret", key.jwks()))
    bad = SignedRequest(body=body + b" ", headers={"saleor-signature": signature})
    with pytest.raises(saleor.SignatureError):
        saleor.verify(bad, saleor.Key("secret", key.jwks()))
    with pytest.raises(saleor.UnknownKey):
        saleor.verify(good, saleor.Key("secret", {"keys": []}))


def test_an_amount_too_large_is_malformed() -> None:
    order = samples.fixture("shopify_order")
    order["total_price"] = "1e400"
    with pytest.raises(PayloadError):
        shopify.map(Message("orders/create", None, order))
