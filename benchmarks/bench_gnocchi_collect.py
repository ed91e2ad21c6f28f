"""The Gnocchi collector's polling share: samples per second from Gnocchi's answer to a batch.

Cases (``--only NAME`` runs one):

* ``gnocchi_collect_samples_per_s``: one poll of ``--resources`` (1,000) resources'
  ``cpu_util``, ``--points`` (60) points each, served by a loopback stand-in that
  answers the resource search and the aggregates with prebuilt bodies (so the
  clock measures the collector: HTTP read, JSON, checks, the batch, not Gnocchi's
  own work). Median of ``--runs`` (5) polls, each by a new collector (every point
  new). Also prints ``gnocchi_answer_json_share``: the share of a poll spent in
  ``json.loads`` of the answers alone.
* ``gnocchi_real_poll_samples_per_s``: the first poll of ``--real-resources`` (50)
  resources with ``--points`` points each on the real Gnocchi
  (tools/ensure-gnocchi.sh), Gnocchi's work included.

Run with ``python benchmarks/bench_gnocchi_collect.py`` (about a minute).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_seconds, progress, result  # noqa: E402

from heat_alarming.metering.collectors.gnocchi import GnocchiCollector  # noqa: E402
from tests.support import gnocchi as gnocchi_support  # noqa: E402

T0 = 1_800_000_000.0
STAMP = "2027-01-15T08:00:00+00:00"  # T0


def _stamps(points: int) -> list[str]:
    return [time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(T0 + 60 * i))
            for i in range(points)]


def stand_in(resources: int, points: int):
    found = [{"id": f"r{i:06d}", "project_id": "p", "user_id": "u",
              "revision_start": STAMP, "server_group": "web", "flavor_id": "f1",
              "display_name": f"web-{i}", "metrics": {"cpu_util": f"m{i:06d}"}}
             for i in range(resources)]
    stamps = _stamps(points)
    # each metric's part of an aggregates answer, made once; an answer holds the
    # metrics the call asked for, as Gnocchi's does
    parts = {f"m{i:06d}": json.dumps({"mean": [[s, 60.0, float(i + j)]
                                               for j, s in enumerate(stamps)]})
             for i in range(resources)}
    answers: list[bytes] = []

    def aggregates(request: bytes) -> tuple[int, bytes]:
        asked = [m for m, _ in json.loads(request)["operations"][1:]]
        body = ('{"measures": {' + ", ".join(f'"{m}": {parts[m]}' for m in asked)
                + '}, "references": [' + ", ".join(f'{{"id": "{m}", "unit": "%"}}'
                                                     for m in asked) + "]}").encode()
        answers.append(body)
        return 200, body

    search = json.dumps(found).encode()
    server = gnocchi_support.CraftedGnocchi({"/v1/search/resource/": (200, search),
                                             "/v1/aggregates": aggregates})
    return server, search, answers


def gnocchi_collect_samples_per_s(args) -> None:
    server, search, answers = stand_in(args.resources, args.points)
    now = T0 + 60 * args.points + 60
    parameters = {"url": server.url, "metrics": ["cpu_util"], "granularity": 60,
                  "lookback": 60 * args.points + 120, "max_resources": args.resources + 1,
                  "page_size": args.resources + 1,
                  "max_bytes": 256 * 1024 * 1024}
    samples = []
    try:
        def poll():
            samples.append(len(GnocchiCollector(parameters).collect(now)))
        seconds = median_seconds(poll, repeat=args.runs)
    finally:
        server.close()
    expected = args.resources * args.points
    assert set(samples) == {expected}, samples
    one_poll = answers[-len(answers) // args.runs:]
    parse = median_seconds(lambda: (json.loads(search), [json.loads(a) for a in one_poll]),
                           repeat=args.runs)
    result("gnocchi_collect_samples_per_s", expected / seconds, "{:.0f}")
    result("gnocchi_answer_json_share", parse / seconds, "{:.2f}")


def gnocchi_real_poll_samples_per_s(args) -> None:
    reason = gnocchi_support.ensure_server()
    if reason:
        progress(f"skipped: {reason}")
        return
    admin = gnocchi_support.GnocchiAdmin()
    admin.ensure_archive_policy()
    kind = admin.ensure_resource_type()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    made = [admin.create_resource(kind, metrics={"cpu_util": "%"}, server_group=group)
            for _ in range(args.real_resources)]
    measures = {vm["metrics"]["cpu_util"]: [(T0 + 60 * j, float(j)) for j in
                                            range(args.points)] for vm in made}
    admin.post_batch(measures)
    last = T0 + 60 * (args.points - 1)
    for vm in made:
        admin.wait_for_points(vm["metrics"]["cpu_util"], {last: float(args.points - 1)},
                              deadline=300)
    parameters = {"url": gnocchi_support.GNOCCHI_URL, "resource_type": kind,
                  "query": {"=": {"server_group": group}}, "metrics": ["cpu_util"],
                  "granularity": 60, "lookback": 60 * args.points + 120}
    now = T0 + 60 * args.points + 60
    samples = []
    seconds = median_seconds(lambda: samples.append(len(GnocchiCollector(parameters)
                                                        .collect(now))),
                             repeat=args.runs)
    assert set(samples) == {args.real_resources * args.points}, samples
    admin.delete_resources(kind, {"=": {"server_group": group}})
    result("gnocchi_real_poll_samples_per_s", samples[0] / seconds, "{:.0f}")


CASES = {f.__name__: f for f in (gnocchi_collect_samples_per_s,
                                 gnocchi_real_poll_samples_per_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--real-resources", type=int, default=50)
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return
    for name, case in CASES.items():
        if args.only in (None, name):
            progress(name)
            case(args)


if __name__ == "__main__":
    main()
