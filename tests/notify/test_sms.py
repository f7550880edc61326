"""SMS in the Twilio Messages form: form fields, basic auth, and which answers are final."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orderstatus.notify.email import DeliveryError
from orderstatus.notify.sms import SmsConfig, SmsSender
from tests.messaging import SmsEndpoint


def test_the_account_and_token_come_from_the_url() -> None:
    config = SmsConfig.from_url(
        "https://AC1:to%2Fken@api.example.com/2010-04-01/Accounts/AC1/Messages.json", "Shop"
    )
    assert config == SmsConfig(
        url="https://api.example.com/2010-04-01/Accounts/AC1/Messages.json",
        account="AC1",
        token="to/ken",
        sender="Shop",
    )


@pytest.fixture
async def endpoint() -> AsyncIterator[SmsEndpoint]:
    server = await SmsEndpoint().start()
    yield server
    await server.stop()


async def test_a_text_is_posted_as_a_form(endpoint: SmsEndpoint) -> None:
    sender = SmsSender(SmsConfig.from_url(endpoint.url, "+4790000000"))
    try:
        answer = await sender.send(
            to="+4741234567", body="Takk! Følg den her", idempotency_key="k1"
        )
    finally:
        await sender.close()
    assert answer == {"provider_id": "SM" + "0" * 31 + "1"}
    assert endpoint.received == [
        {
            "To": "+4741234567",
            "From": "+4790000000",
            "Body": "Takk! Følg den her",
            "Idempotency-Key": "k1",
        }
    ]


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (401, False), (429, False), (503, False)]
)
async def test_which_answers_are_final(endpoint: SmsEndpoint, status: int, permanent: bool) -> None:
    endpoint.fail_with = status
    sender = SmsSender(SmsConfig.from_url(endpoint.url, "Shop"))
    try:
        with pytest.raises(DeliveryError) as error:
            await sender.send(to="+4741234567", body="x", idempotency_key="k")
    finally:
        await sender.close()
    assert error.value.permanent is permanent and str(status) in str(error.value)


async def test_a_number_that_is_not_e164_is_never_sent(endpoint: SmsEndpoint) -> None:
    sender = SmsSender(SmsConfig.from_url(endpoint.url, "Shop"))
    with pytest.raises(DeliveryError) as error:
        await sender.send(to="41234567", body="x", idempotency_key="k")
    assert error.value.permanent and endpoint.received == []
