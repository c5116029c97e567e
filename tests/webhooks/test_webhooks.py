"""Webhook targets and signed delivery: the allow-list, no private addresses, no redirects, signatures
that the standardwebhooks verifier accepts, capped answers."""

import base64
import ipaddress
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from image_processor.errors import InvalidRequest
from image_processor.webhooks.sender import WebhookSender
from image_processor.webhooks.targets import IPAddress, TargetRefused, WebhookPolicy
from tests.support.receiver import running_receiver

SECRET = "whsec_" + base64.b64encode(b"catalog-webhook-test-secret-0123").decode()


def resolver(answers: dict[str, str]) -> Any:
    def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(answers[host])]

    return resolve


def test_with_no_prefixes_webhooks_are_off_and_say_so() -> None:
    with pytest.raises(InvalidRequest, match="WEBHOOK_URL_PREFIXES is empty") as refused:
        WebhookPolicy([]).check("https://hooks.example.com/x")
    assert refused.value.field == "callback_url"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com.evil.net/jobs",  # a longer host is not the prefix's host
        "https://hooks.example.com:8443/jobs",  # another port
        "https://other.example.com/jobs",
        "https://hooks.example.com/other",  # outside the prefix's path
        "https://hooks.example.com/jobs/../admin",
        "https://user:pw@hooks.example.com/jobs",
        "http://hooks.example.com/jobs",  # plain http to a host that is not loopback
        "ftp://hooks.example.com/jobs",
        "not a url",
    ],
)
def test_urls_outside_the_allow_list_are_refused(url: str) -> None:
    policy = WebhookPolicy(["https://hooks.example.com/jobs", "http://127.0.0.1:9000/"])
    with pytest.raises(InvalidRequest):
        policy.check(url)


def test_urls_inside_the_allow_list_pass() -> None:
    policy = WebhookPolicy(["https://hooks.example.com/jobs", "http://127.0.0.1:9000/"])
    assert policy.check("https://hooks.example.com/jobs/abc?x=1") == "https://hooks.example.com/jobs/abc?x=1"
    assert policy.check("https://hooks.example.com:443/jobs") == "https://hooks.example.com:443/jobs"
    assert policy.check("http://127.0.0.1:9000/cb") == "http://127.0.0.1:9000/cb"


def test_a_prefix_of_plain_http_to_a_public_host_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="loopback"):
        WebhookPolicy(["http://hooks.example.com/"])


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.2", "169.254.169.254", "127.0.0.1", "::1", "fd00::1"])
def test_a_host_name_that_resolves_to_a_private_address_is_refused(address: str) -> None:
    policy = WebhookPolicy(["https://hooks.example.com/"], resolver=resolver({"hooks.example.com": address}))
    with pytest.raises(TargetRefused, match="private address"):
        policy.resolve("https://hooks.example.com/cb")


def test_a_public_answer_is_used_and_the_request_goes_to_that_address() -> None:
    policy = WebhookPolicy(["https://hooks.example.com/"], resolver=resolver({"hooks.example.com": "93.184.215.14"}))
    target = policy.resolve("https://hooks.example.com/cb?q=1")
    assert target.connect_url == "https://93.184.215.14:443/cb?q=1"
    assert target.host == "hooks.example.com"


def test_a_private_address_named_by_a_prefix_is_allowed() -> None:
    policy = WebhookPolicy(["http://127.0.0.1:9000/"], resolver=resolver({"127.0.0.1": "127.0.0.1"}))
    assert str(policy.resolve("http://127.0.0.1:9000/cb").address) == "127.0.0.1"


def test_a_delivery_is_signed_so_the_standardwebhooks_verifier_accepts_it() -> None:
    with running_receiver() as receiver:
        sender = WebhookSender(SECRET, WebhookPolicy([receiver.url]))
        attempt = sender.send(receiver.url, "job_abc_succeeded", {"image_id": "abc", "status": "succeeded"})

    assert attempt.delivered and attempt.status == "HTTP 204"
    (got,) = receiver.received
    assert got.headers["webhook-id"] == "job_abc_succeeded"
    assert Webhook(SECRET).verify(got.body, got.headers) == {"image_id": "abc", "status": "succeeded"}
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-00").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)
    tampered = got.body.replace(b"succeeded", b"failed")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, got.headers)


def test_redirects_are_not_followed() -> None:
    with running_receiver() as elsewhere, running_receiver([302], redirect_to=elsewhere.url) as receiver:
        sender = WebhookSender(SECRET, WebhookPolicy([receiver.url, elsewhere.url]))
        attempt = sender.send(receiver.url, "m1", {"status": "failed"})

    assert not attempt.delivered and attempt.status == "HTTP 302"
    assert len(receiver.received) == 1
    assert elsewhere.received == []


def test_an_answer_body_is_read_only_up_to_the_cap() -> None:
    with running_receiver([200], answer_body=b"x" * 5_000_000) as receiver:
        sender = WebhookSender(SECRET, WebhookPolicy([receiver.url]), max_answer_bytes=1024)
        attempt = sender.send(receiver.url, "m1", {})
    assert attempt.delivered


def test_a_refused_target_is_not_called_and_says_why() -> None:
    policy = WebhookPolicy(["https://hooks.example.com/"], resolver=resolver({"hooks.example.com": "10.1.2.3"}))
    attempt = WebhookSender(SECRET, policy).send("https://hooks.example.com/cb", "m1", {})
    assert not attempt.delivered
    assert attempt.status.startswith("refused: its host hooks.example.com resolves to 10.1.2.3")


def test_settings_refuse_prefixes_without_a_secret_and_a_secret_without_its_prefix() -> None:
    from image_processor.settings import Settings

    with pytest.raises(ValueError, match="needs WEBHOOK_SECRET"):
        Settings(webhook_url_prefixes="https://hooks.example.com/")
    with pytest.raises(ValueError, match="whsec_"):
        Settings(webhook_secret="plain-secret")
    both = Settings(webhook_url_prefixes="https://a.example/, https://b.example/x", webhook_secret=SECRET)
    assert both.webhook_url_prefixes == ["https://a.example/", "https://b.example/x"]
