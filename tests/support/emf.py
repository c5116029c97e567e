"""CloudWatch embedded-metric-format documents, read back from what a function printed."""

import json
from typing import Any

# (metric name, unit, dimensions as sorted pairs)
EmfMetric = tuple[str, str, tuple[tuple[str, str], ...]]


def emf_documents(printed: str) -> list[dict[str, Any]]:
    """Each EMF document among the printed lines, checked against the format's required shape."""
    documents = []
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document: dict[str, Any] = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert directive["Namespace"], "a metric without a namespace"
        for metric in directive["Metrics"]:
            assert metric["Name"] in document, "a metric without its value"
        for dimension_set in directive["Dimensions"]:
            assert all(name in document for name in dimension_set), "a dimension without its value"
        documents.append(document)
    return documents


def emf_metrics(printed: str) -> dict[EmfMetric, str]:
    """Every metric printed, by (name, unit, dimensions), with its namespace."""
    metrics = {}
    for document in emf_documents(printed):
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        for definition in directive["Metrics"]:
            for names in directive["Dimensions"]:
                dimensions = tuple(sorted((name, str(document[name])) for name in names))
                metrics[(definition["Name"], definition["Unit"], dimensions)] = directive["Namespace"]
    return metrics
