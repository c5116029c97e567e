"""Storage settings and the job deadline's rule against the asynchronous event age."""

import pytest

from image_processor.settings import Settings


def test_the_async_event_age_ends_a_worker_timeout_before_the_job_deadline() -> None:
    settings = Settings()
    assert settings.async_event_max_age_seconds == 780
    assert settings.async_event_max_age_seconds + settings.worker_timeout_seconds == settings.job_deadline_seconds


def test_a_deadline_too_short_for_any_event_age_is_refused() -> None:
    with pytest.raises(ValueError, match="JOB_DEADLINE_SECONDS"):
        Settings(job_deadline_seconds=150, worker_timeout_seconds=120)


def test_storage_defaults_are_the_local_file_system_and_inline_bytes() -> None:
    settings = Settings()
    assert (settings.storage_backend, settings.image_delivery) == ("filesystem", "inline")
    assert settings.presigned_url_ttl_seconds == 300
    assert settings.upload_ttl_seconds == 900
