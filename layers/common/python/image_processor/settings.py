"""Typed configuration, read from environment variables."""

import logging
import os
from collections.abc import Iterable
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .observability import DEFAULT_METRICS_NAMESPACE
from .presets import load_catalogue
from .urls import check_url, normalise_base_url, normalise_origin

IPNetwork = IPv4Network | IPv6Network
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_MIN_EVENT_AGE_SECONDS = 60  # the smallest maximum_event_age_in_seconds Lambda accepts
# A presigned URL lives no longer than the credentials that signed it; a Lambda role's session lasts
# from one to a few hours, so an hour is the longest lifetime that holds everywhere.
_MAX_PRESIGNED_TTL_SECONDS = 3600
_RENAMED = {"DYNAMODB_TIMEOUT_SECONDS": "AWS_TIMEOUT_SECONDS"}
logger = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    processed_images_dir: Path = Path("/app/processed_images")
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    s3_bucket: str | None = None
    image_delivery: Literal["inline", "redirect"] = "inline"
    # At most an hour: a URL signed with a Lambda role's session credentials dies with that session.
    presigned_url_ttl_seconds: int = Field(default=300, ge=1, le=_MAX_PRESIGNED_TTL_SECONDS)
    upload_ttl_seconds: int = Field(default=900, ge=10, le=_MAX_PRESIGNED_TTL_SECONDS)
    # Signs the file-system backend's direct-upload forms; a fresh random one per process when unset.
    upload_signing_secret: SecretStr | None = None
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # Request bodies the process holds at once (admitted by Content-Length before reading); past it, 503.
    upload_budget_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    # Of that, what one client address may hold; unset, a quarter (never less than one whole upload).
    upload_budget_client_bytes: int | None = Field(default=None, gt=0)
    # Where uploads past 1 MB wait, on disk, until a crop reads them; the system's temporary folder when unset.
    upload_spool_dir: Path | None = None
    # The whole body must arrive within this time after the request starts; past it, 408 and the connection closes.
    body_read_timeout_seconds: float = Field(default=60.0, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    # A decode running longer is stopped (422 image_too_complex) and its crop slot freed; see imaging.deadline.
    image_decode_timeout_seconds: float = Field(default=20.0, gt=0)
    jpeg_quality: int = Field(default=90, ge=1, le=95)
    image_concurrency: int = Field(default=max(os.cpu_count() or 1, 1), ge=1)
    # Bytes every decode in the process may hold at once (manual crops and local smart-crop jobs), estimated
    # from each header; an image that alone needs more is refused (422 image_too_large). See imaging.budget.
    image_memory_budget_bytes: int = Field(default=384 * 1024 * 1024, ge=16 * 1024 * 1024)
    # Rendition presets added to or replacing the built-in ones (YAML or JSON; see presets.py).
    renditions_file: Path | None = None

    aws_endpoint_url: str | None = None
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    # Connect and read timeout of every AWS call (DynamoDB, S3, Lambda). DYNAMODB_TIMEOUT_SECONDS is its
    # former name, still read (with a warning).
    aws_timeout_seconds: float = Field(
        default=2.0, gt=0, validation_alias=AliasChoices("AWS_TIMEOUT_SECONDS", "DYNAMODB_TIMEOUT_SECONDS")
    )
    rate_limit_table: str = "product-image-processor-rate-limits"
    jobs_table: str = "product-image-processor-jobs"
    idempotency_table: str = "product-image-processor-idempotency"
    catalog_table: str = "product-image-processor-catalog"

    rate_limit_requests: int = Field(default=20, ge=1)
    rate_limit_window_seconds: int = Field(default=3600, ge=1)
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    # IPv6 clients are counted per block of this prefix (ISPs delegate a /56 or /48 to one subscriber) ...
    ipv6_client_prefix: int = Field(default=56, ge=32, le=128)
    # ... and, with this larger smart-crop limit (same window), per /48; 0 turns the second limit off.
    ipv6_site_rate_limit_requests: int = Field(default=100, ge=0)
    # Manual crop's own budget per client (API key, else address); 0 leaves manual crop unlimited.
    manual_crop_rate_limit_requests: int = Field(default=0, ge=0)
    manual_crop_rate_limit_window_seconds: int = Field(default=3600, ge=1)
    # Direct uploads per client (API key, else address): tickets and receipts each; 0 leaves them unlimited.
    upload_rate_limit_requests: int = Field(default=60, ge=0)
    upload_rate_limit_window_seconds: int = Field(default=3600, ge=1)
    # Image checks per client (API key, else address): each decodes an image; 0 leaves them unlimited.
    checks_rate_limit_requests: int = Field(default=300, ge=0)
    checks_rate_limit_window_seconds: int = Field(default=3600, ge=1)

    # When any key is set, every POST needs one in X-API-Key. API_KEYS_FILE names a file (a mounted
    # secret) holding more, one per line or comma-separated.
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    api_keys_file: Path | None = None
    # Keys the per-key identity (rate limits, Idempotency-Key scope) with an HMAC; unset, a digest of all the keys.
    client_identity_secret: SecretStr | None = None
    # Web origins (scheme://host[:port]) whose pages may POST; the service's own origin always may.
    cors_allowed_origins: Annotated[list[str], NoDecode] = []
    # Where clients fetch images from instead of the service itself (a CDN such as the CloudFront
    # distribution Terraform adds): image links become `<base>/images/...`.
    public_image_base_url: str | None = None
    # The service's own origin as browsers reach it; absolute URLs (the upload form's) are built from it.
    public_base_url: str | None = None
    # Host headers answered (others get 400); unset: PUBLIC_BASE_URL's host and the loopback names.
    allowed_hosts: Annotated[list[str], NoDecode] = []

    dispatcher: Literal["local", "lambda"] = "local"
    worker_function_name: str = "product-image-processor-smart-crop-worker"
    local_worker_concurrency: int = Field(default=2, ge=1)
    # Smart-crop jobs the local pool holds (queued, running or waiting to retry); beyond it a POST gets a 503.
    local_queue_max_jobs: int = Field(default=100, ge=1)
    job_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    job_deadline_seconds: int = Field(default=900, ge=10)
    job_max_attempts: int = Field(default=3, ge=1)
    worker_timeout_seconds: int = Field(default=120, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)

    # Unset: `http` when AI_SERVICE_URL is set, else `mock`.
    ai_backend: Literal["mock", "http"] | None = None
    ai_service_url: HttpUrl | None = None
    ai_timeout_seconds: float = Field(default=10.0, gt=0)
    ai_max_attempts: int = Field(default=3, ge=1)
    mock_ai_latency_seconds: float = Field(default=2.0, ge=0)

    # JSON file of check profiles ({"name": {thresholds}}) besides the built-in `marketplace` (imaging.checks).
    check_profiles_file: Path | None = None

    # CloudFront distribution in front of the images: a DELETE invalidates the image's paths there.
    cdn_distribution_id: str | None = None

    # URL prefixes a smart crop's callback_url may start with; empty turns webhooks off. WEBHOOK_SECRET
    # (whsec_ and base64) signs each POST as Standard Webhooks says.
    webhook_url_prefixes: Annotated[list[str], NoDecode] = []
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # On Lambda: the SQS queue that holds webhook retries until due (Terraform sets it on both functions).
    # Unset, retries wait on a timer thread (DISPATCHER=local) or are not made (DISPATCHER=lambda).
    webhook_retry_queue_name: str | None = None

    log_level: str = "INFO"
    # prometheus: counters and timings at GET /metrics (uvicorn, the container); emf: CloudWatch embedded
    # metric format lines in the log (Lambda; namespace from POWERTOOLS_METRICS_NAMESPACE).
    metrics_backend: Literal["prometheus", "emf"] = "prometheus"
    # The CloudWatch namespace of the EMF metrics: Powertools' own variable, so that the handlers'
    # ColdStart metric lands beside them.
    powertools_metrics_namespace: str = DEFAULT_METRICS_NAMESPACE

    @model_validator(mode="before")
    @classmethod
    def _warn_of_former_names(cls, data: object) -> object:
        # pydantic-settings hands the value over under the first alias, so the environment tells which was set.
        given = {name.upper() for name in os.environ}
        for former, current in _RENAMED.items():
            if former in given:
                logger.warning("%s is deprecated: set %s instead (it times every AWS call)", former, current)
        return data

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            keys = _split(value)
            if value.strip() and not keys:
                raise ValueError("API_KEYS is set but holds no key; unset it to run without keys")
            return keys
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_are_long(cls, keys: list[SecretStr]) -> list[SecretStr]:
        _check_key_lengths(key.get_secret_value() for key in keys)
        return keys

    @field_validator("webhook_url_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        return _split(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> "Settings":
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if self.webhook_url_prefixes and not secret:
            raise ValueError("WEBHOOK_URL_PREFIXES needs WEBHOOK_SECRET (whsec_ followed by base64) to sign with")
        if secret and not secret.startswith("whsec_"):
            raise ValueError("WEBHOOK_SECRET must start with whsec_ (then the key in base64)")
        return self

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return [_origin(part) for part in _split(value)] if isinstance(value, str) else value

    @field_validator("public_image_base_url")
    @classmethod
    def _check_public_image_base_url(cls, value: str | None) -> str | None:
        return normalise_base_url(value, "PUBLIC_IMAGE_BASE_URL") if value else None

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _check_public_base_url(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            origin = normalise_origin(value.rstrip("/"))
            if origin is None:
                raise ValueError(f"PUBLIC_BASE_URL {value!r} is not an origin such as https://images.example.com")
            return origin
        return None if isinstance(value, str) else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return [host.lower() for host in _split(value)] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_allowed_hosts(self) -> "Settings":
        if not self.allowed_hosts:
            own = [urlsplit(self.public_base_url).hostname or ""] if self.public_base_url else []
            self.allowed_hosts = [*own, *LOOPBACK_HOSTS]
        return self

    @model_validator(mode="after")
    def _read_api_keys_file(self) -> "Settings":
        if self.api_keys_file is not None:
            try:
                text = self.api_keys_file.read_text()
            except OSError as exc:
                raise ValueError(f"API_KEYS_FILE {self.api_keys_file} cannot be read: {exc.strerror}") from exc
            from_file = _split(text)
            if not from_file:
                raise ValueError(f"API_KEYS_FILE {self.api_keys_file} holds no key; unset it to run without keys")
            _check_key_lengths(from_file)
            self.api_keys = [*self.api_keys, *(SecretStr(key) for key in from_file)]
        return self

    @model_validator(mode="after")
    def _renditions_file_is_valid(self) -> "Settings":
        load_catalogue(self.renditions_file)  # an invalid file stops start-up, naming the preset and field
        return self

    @model_validator(mode="after")
    def _budget_holds_one_upload(self) -> "Settings":
        if self.upload_budget_bytes < self.max_upload_bytes:
            raise ValueError(
                f"UPLOAD_BUDGET_BYTES ({self.upload_budget_bytes}) must be at least MAX_UPLOAD_BYTES "
                f"({self.max_upload_bytes}), or no upload of the maximum size could ever be received"
            )
        return self

    @model_validator(mode="after")
    def _one_ai_backend(self) -> "Settings":
        if self.ai_backend is None:
            self.ai_backend = "http" if self.ai_service_url is not None else "mock"
        if self.ai_backend == "http" and self.ai_service_url is None:
            raise ValueError("AI_BACKEND=http needs AI_SERVICE_URL")
        if self.ai_backend == "mock" and self.ai_service_url is not None:
            raise ValueError(
                "AI_SERVICE_URL is set but AI_BACKEND=mock: unset AI_BACKEND (or set it to http) to use the URL,"
                " or unset AI_SERVICE_URL to keep the mock"
            )
        if self.ai_service_url is not None:
            check_url(str(self.ai_service_url))
        return self

    @property
    def async_event_max_age_seconds(self) -> int:
        """The maximum age the worker's asynchronous events get (Lambda's maximum_event_age_in_seconds):
        an event delivered at this age still finishes, within the worker's timeout, before the job's
        deadline, so a poll never marks failed a job Lambda may still run."""
        return self.job_deadline_seconds - self.worker_timeout_seconds

    @model_validator(mode="after")
    def _deadline_outlasts_a_late_delivery(self) -> "Settings":
        if self.async_event_max_age_seconds < _MIN_EVENT_AGE_SECONDS:
            raise ValueError(
                f"JOB_DEADLINE_SECONDS ({self.job_deadline_seconds}) must be at least WORKER_TIMEOUT_SECONDS "
                f"({self.worker_timeout_seconds}) + {_MIN_EVENT_AGE_SECONDS}, Lambda's shortest event age"
            )
        return self

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> "Settings":
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        if self.image_delivery == "redirect" and self.storage_backend != "s3":
            raise ValueError("IMAGE_DELIVERY=redirect needs STORAGE_BACKEND=s3 (a file system has no presigned URLs)")
        return self


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


MIN_API_KEY_LENGTH = 24


def _check_key_lengths(keys: Iterable[str]) -> None:
    short = sum(1 for key in keys if len(key) < MIN_API_KEY_LENGTH)
    if short:
        raise ValueError(
            f"{short} API key(s) are shorter than {MIN_API_KEY_LENGTH} characters; use random keys "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def _origin(value: str) -> str:
    origin = normalise_origin(value)
    if origin is None:
        raise ValueError(f"CORS_ALLOWED_ORIGINS entry {value!r} is not an origin such as https://app.example.com")
    return origin


@lru_cache
def get_settings() -> Settings:
    return Settings()
