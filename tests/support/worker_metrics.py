"""Reading a worker's metrics as Prometheus would: scraped over HTTP and parsed by
prometheus-client's own parser of the text format."""
from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(address: tuple[str, int]) -> dict:
    """The endpoint's answer, :func:`parsed`."""
    host, port = address
    answer = requests.get(f"http://{host}:{port}/metrics", timeout=5)
    answer.raise_for_status()
    return parsed(answer.text)


def parsed(text: str) -> dict:
    """{(sample name, sorted labels but ``worker``): value} of an exposition, and under
    ``"workers"`` the set of ``worker`` labels it holds."""
    values, workers = {}, set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            workers.add(labels.pop("worker"))
            values[(sample.name, tuple(sorted(labels.items())))] = sample.value
    values["workers"] = workers
    return values


def value(metrics: dict, name: str, default: float | None = None, **labels) -> float:
    """The value of the sample ``name`` with ``labels`` (``default`` if absent, else
    KeyError)."""
    key = (name, tuple(sorted(labels.items())))
    if default is not None:
        return metrics.get(key, default)
    return metrics[key]
