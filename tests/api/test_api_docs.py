"""docs/api.md lists every error code the service can answer with."""

import re

from image_processor import errors
from image_processor.api.errors import status_and_code
from tools.processes import REPO_ROOT

# Codes that do not come from a ServiceError: routing and Starlette's HTTPException, named after the status.
HTTP_CODES = {"not_found", "method_not_allowed"}


def service_errors() -> list[type[errors.ServiceError]]:
    found: list[type[errors.ServiceError]] = []
    pending: list[type[errors.ServiceError]] = [errors.ServiceError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_code_is_documented_with_its_status() -> None:
    """Issue 12: the full list of codes, so clients can program against them."""
    table = (REPO_ROOT / "docs" / "api.md").read_text()
    documented = dict(
        (code, int(status)) for status, code in re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", table, re.MULTILINE)
    )
    assert set(documented) == {status_and_code(cls)[1] for cls in service_errors()} | HTTP_CODES
    for cls in service_errors():
        status, code = status_and_code(cls)
        assert documented[code] == status, cls.__name__
