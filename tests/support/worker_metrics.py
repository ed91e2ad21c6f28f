"""Reading a worker's metrics as Prometheus would: scraped over HTTP and parsed by
prometheus-client's own parser of the text format; and a real node exporter reading
the workers' textfiles."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http_servers import free_port


def scrape(address: tuple[str, int]) -> dict:
    """The endpoint's answer, :func:`parsed`."""
    host, port = address
    answer = requests.get(f"http://{host}:{port}/metrics", timeout=5)
    answer.raise_for_status()
    return parsed(answer.text)


def parsed(text: str) -> dict:
    """{(sample name, sorted labels but ``worker``): value} of an exposition, and under
    ``"workers"`` the set of ``worker`` labels it holds (use it with one worker's series,
    or with labels that tell the workers' series apart)."""
    values, workers = {}, set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            worker = labels.pop("worker", None)
            if worker is not None:
                workers.add(worker)
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


class NodeExporter:
    """Debian's prometheus-node-exporter (tools/ensure-prometheus.sh installs it) run by
    the test on a free loopback port with the textfile collector alone, reading
    ``directory``; the test is skipped where the binary is missing. :meth:`close`
    ends the process this started."""

    binary = "prometheus-node-exporter"

    def __init__(self, directory: str) -> None:
        path = shutil.which(self.binary)
        if path is None:
            pytest.skip(f"{self.binary} is not installed (tools/ensure-prometheus.sh "
                        "installs it)")
        self.address = ("127.0.0.1", free_port())
        self._process = subprocess.Popen(
            [path, f"--web.listen-address={self.address[0]}:{self.address[1]}",
             "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={directory}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:  # until it answers: the fact polled, never a fixed sleep
            try:
                self.text()
                return
            except requests.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    error = self._process.stderr.read().decode()[-500:]
                    self.close()
                    raise AssertionError(f"{self.binary} did not start: {error}") from None
                time.sleep(0.1)

    def text(self) -> str:
        host, port = self.address
        answer = requests.get(f"http://{host}:{port}/metrics", timeout=5)
        answer.raise_for_status()
        return answer.text

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process.stderr.close()
