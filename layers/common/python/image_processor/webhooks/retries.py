"""A webhook attempt still to be made, as data.

A retry is never a closure: whatever waits for it (a timer thread under uvicorn, an SQS message on
Lambda, the job record across a restart) holds the same `Delivery`, and whoever makes it loads the job.
"""

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Delivery:
    """The `attempt`-th POST of a job's webhook, due at `due_at`; times are wall-clock seconds."""

    image_id: str
    attempt: int
    first_attempt_at: float
    due_at: float
    product_id: str | None = None

    def to_message(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> "Delivery":
        """ValueError for a body that is not one (it is dropped, not retried)."""
        try:
            data = json.loads(body)
            return cls(
                image_id=str(data["image_id"]),
                attempt=int(data["attempt"]),
                first_attempt_at=float(data["first_attempt_at"]),
                due_at=float(data["due_at"]),
                product_id=None if data.get("product_id") is None else str(data["product_id"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a webhook delivery: {body[:200]!r}") from exc
