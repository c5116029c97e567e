"""The service's metrics as CloudWatch embedded-metric-format lines, printed to the Lambda log.

Each record is its own line (Powertools' single_metric), because EMF gives every metric in one line
the same dimensions, and each metric here has its own. CloudWatch adds the `service` dimension's value
from POWERTOOLS_SERVICE_NAME.
"""

from collections.abc import Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from . import Metric


class EmfSink:
    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        with single_metric(
            name=metric.name,
            unit=MetricUnit(metric.unit),
            value=value,
            namespace=self._namespace,
            default_dimensions=dict(labels),
        ):
            pass
