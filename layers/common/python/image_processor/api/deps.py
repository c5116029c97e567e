import hashlib
import hmac
from typing import Annotated

from aws_lambda_powertools import Logger
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from ..admission.client_ip import client_address, rate_limit_key
from ..errors import Forbidden, Unauthorized
from ..observability import SERVICE_NAME
from ..services import Services
from ..settings import Settings
from .gateway import gateway_context

logger = Logger(service=SERVICE_NAME, child=True)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


# Requests from a peer without an IP address (a Unix socket, with no trusted proxy naming the client) are one
# client: for smart and manual crop alike they share one quota, which keeps the limit an upper bound on cost.
UNKNOWN_ADDRESS = "unknown"


def get_client_address(request: Request, services: ServicesDep) -> str:
    return _resolve_address(request, services) or UNKNOWN_ADDRESS


def _resolve_address(request: Request, services: Services) -> str | None:
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.getlist("x-forwarded-for"), services.settings.trusted_proxies)
    if address is not None:
        request.state.client_ip = address
        logger.thread_safe_append_keys(client_ip=address)
    return address


ClientAddressDep = Annotated[str, Depends(get_client_address)]

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed on every POST when the service has API keys (API_KEYS); not otherwise.",
)


def get_client_identity(
    request: Request, services: ServicesDep, api_key: Annotated[str | None, Security(_api_key_header)]
) -> str:
    """Who is asking: the API key when keys are on (refusing a request without a known one), the key
    API Gateway checked for its usage plan, or else the client's address (its /64 for IPv6); clients
    without one (a Unix socket peer) share one identity."""
    keys = services.settings.api_keys
    if keys and (api_key is None or not _is_known(api_key, keys)):
        raise Unauthorized("Send a valid API key in the X-API-Key header.")
    return get_reader_identity(request, services, api_key)


def get_reader_identity(
    request: Request, services: ServicesDep, api_key: Annotated[str | None, Security(_api_key_header)]
) -> str:
    """Who is reading (a GET needs no key): as `get_client_identity`, but a request without a known key is
    counted by its address instead of refused."""
    keys = services.settings.api_keys
    if keys and api_key is not None and _is_known(api_key, keys):
        return "key:" + _key_identity(api_key, services.settings)
    gateway_key_id = _api_gateway_key_id(request)
    if gateway_key_id:
        return f"key-id:{gateway_key_id}"
    return f"ip:{rate_limit_key(get_client_address(request, services), services.settings.ipv6_client_prefix)}"


ClientIdentityDep = Annotated[str, Depends(get_client_identity)]
ReaderIdentityDep = Annotated[str, Depends(get_reader_identity)]


def require_api_key(
    request: Request, services: ServicesDep, api_key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """For what cannot be undone (DELETE): a known key always, and so API keys must be on. Either the
    service's own (API_KEYS), or, behind API Gateway with enable_api_keys, the key the gateway checked."""
    keys = services.settings.api_keys
    if not keys and _api_gateway_key_id(request):
        return
    if not keys:
        raise Forbidden(
            "Deleting needs an API key, and this service has none: set API_KEYS (or API_KEYS_FILE) and send one "
            "in X-API-Key (on AWS, or deploy with enable_api_keys). `make run` generates a development key and "
            "prints it."
        )
    if api_key is None or not _is_known(api_key, keys):
        raise Unauthorized("Send a valid API key in the X-API-Key header.")


ApiKeyRequiredDep = Depends(require_api_key)


def _key_identity(api_key: str, settings: Settings) -> str:
    """A keyed hash of the API key: logs and tables hold it, and without the secret it names no key."""
    secret = settings.client_identity_secret
    if secret is not None:
        hmac_key = secret.get_secret_value().encode()
    else:
        # The whole key set is a secret every process shares: identities agree across instances.
        hmac_key = hashlib.sha256(
            b"\n".join(sorted(key.get_secret_value().encode() for key in settings.api_keys))
        ).digest()
    return hmac.new(hmac_key, api_key.encode(), hashlib.sha256).hexdigest()[:32]


def _is_known(candidate: str, keys: list[SecretStr]) -> bool:
    # Digests have one length, so the comparison takes the same time whatever the candidate; every key is compared.
    digest = hashlib.sha256(candidate.encode()).digest()
    found = False
    for key in keys:
        found |= hmac.compare_digest(digest, hashlib.sha256(key.get_secret_value().encode()).digest())
    return found


def _api_gateway_key_id(request: Request) -> str | None:
    """The id of the API key API Gateway checked for its usage plan (enable_api_keys); None elsewhere."""
    key_id = (gateway_context(request.scope).get("identity") or {}).get("apiKeyId")
    return key_id if isinstance(key_id, str) and key_id else None
