"""GnocchiCollector against the real Gnocchi (tools/ensure-gnocchi.sh): the
aggregates of the resources a search matches become samples, each ended period
once; what Gnocchi refuses, and what a broken one sends, is a CollectError.

Each test keeps to resources of its own (a unique ``server_group``) in the shared
``instance``-like type, at fixed past times (the collector is told ``now``).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from heat_alarming.metering.collectors.gnocchi import GnocchiCollector
from heat_alarming.metering.pipeline.base import (
    COLLECTORS,
    CollectError,
    PipelineError,
    load,
)
from tests.support.gnocchi import GNOCCHI_URL, INSTANCE_TYPE, CraftedGnocchi
from tests.support.http_servers import free_port

T0 = 1_800_000_000.0  # a period start (a multiple of 60)
ROOT = pathlib.Path(__file__).resolve().parents[4]
#: one poll with auth.section, in a process whose cfg.CONF read the file argv[1]
SECTION_POLL = """
import json, sys
from oslo_config import cfg
from heat_alarming.metering.collectors.gnocchi import GnocchiCollector
cfg.CONF(["--config-file", sys.argv[1]], project="ha-test")
source = GnocchiCollector({"auth": {"type": "keystone", "section": "ha_gnocchi"},
                           "resource_type": sys.argv[2], "metrics": "cpu_util",
                           "query": {"=": {"server_group": sys.argv[3]}},
                           "granularity": 60, "lookback": 3600})
batch = source.collect(%r)
print(json.dumps([[r, v] for r, v in zip(batch.resource_ids, batch.volumes.tolist())]))
""" % (T0 + 60)


def group() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"


def collector(resource_type, server_group, **parameters) -> GnocchiCollector:
    settings = {"url": GNOCCHI_URL, "auth": {"type": "basic", "user": "admin"},
                "resource_type": resource_type,
                "query": {"=": {"server_group": server_group}},
                "metrics": ["cpu_util"], "granularity": 60, "lookback": 3600}
    settings.update(parameters)
    return GnocchiCollector(settings)


def rows(batch) -> set[tuple]:
    return {(s.name, s.resource_id, s.project_id, s.user_id, s.type, s.unit, s.timestamp,
             s.volume, json.dumps(dict(s.resource_metadata), sort_keys=True))
            for s in batch.samples()}


def meta(**attributes) -> str:
    base = {"server_group": None, "flavor_id": None, "display_name": None, "host": None,
            "type": INSTANCE_TYPE}
    base.update(attributes)
    return json.dumps(base, sort_keys=True)


@pytest.mark.parametrize("api", ["aggregates", "measures"])
def test_samples_are_the_aggregates_of_the_matching_resources_only(gnocchi, instance_type,
                                                                   api):
    g, other = group(), group()
    web1 = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                   project_id="p1", user_id="u1", server_group=g,
                                   flavor_id="f1", display_name="web-1")
    web2 = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                   project_id="p2", user_id="u2", server_group=g,
                                   display_name="web-2")
    db = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                 project_id="p1", server_group=other)
    gnocchi.post_batch({web1["metrics"]["cpu_util"]: [(T0, 10.0), (T0 + 30, 20.0),
                                                      (T0 + 60, 40.0)],
                        web2["metrics"]["cpu_util"]: [(T0 + 5, 1.5)],
                        db["metrics"]["cpu_util"]: [(T0, 99.0)]})
    gnocchi.wait_for_points(web1["metrics"]["cpu_util"], {T0: 15.0, T0 + 60: 40.0})
    gnocchi.wait_for_points(web2["metrics"]["cpu_util"], {T0: 1.5})
    gnocchi.wait_for_points(db["metrics"]["cpu_util"], {T0: 99.0})

    batch = collector(instance_type, g, api=api).collect(T0 + 600)

    assert rows(batch) == {
        ("cpu_util", web1["id"], "p1", "u1", "gauge", "%", T0, 15.0,
         meta(server_group=g, flavor_id="f1", display_name="web-1")),
        ("cpu_util", web1["id"], "p1", "u1", "gauge", "%", T0 + 60, 40.0,
         meta(server_group=g, flavor_id="f1", display_name="web-1")),
        ("cpu_util", web2["id"], "p2", "u2", "gauge", "%", T0, 1.5,
         meta(server_group=g, display_name="web-2")),
    }
    assert {d.source for d in batch.series} == {"gnocchi"}


def test_the_aggregation_asked_for_is_the_volume(gnocchi, instance_type):
    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    metric = vm["metrics"]["cpu_util"]
    gnocchi.post_measures(metric, [(T0, 3.0), (T0 + 10, 8.0), (T0 + 20, 1.0)])
    gnocchi.wait_for_points(metric, {T0: 8.0}, aggregation="max")

    batch = collector(instance_type, g, aggregation="max").collect(T0 + 600)

    assert list(batch.volumes) == [8.0] and list(batch.timestamps) == [T0]
    assert batch.series[0].project_id is None and batch.series[0].user_id is None


def test_a_period_is_sent_once_it_has_ended_and_each_point_only_once(gnocchi,
                                                                     instance_type):
    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    metric = vm["metrics"]["cpu_util"]
    gnocchi.post_measures(metric, [(T0, 1.0), (T0 + 60, 2.0)])
    gnocchi.wait_for_points(metric, {T0: 1.0, T0 + 60: 2.0})
    source = collector(instance_type, g)

    first = source.collect(T0 + 90)  # T0 + 60 is still filling
    second = source.collect(T0 + 120)  # now it has ended
    again = source.collect(T0 + 130)
    gnocchi.post_measures(metric, [(T0 + 120, 3.0), (T0 + 180, 4.0), (T0 + 240, 5.0)])
    gnocchi.wait_for_points(metric, {T0 + 120: 3.0, T0 + 180: 4.0, T0 + 240: 5.0})
    third = source.collect(T0 + 300)
    last = source.collect(T0 + 400)

    assert (list(first.timestamps), list(first.volumes)) == ([T0], [1.0])
    assert (list(second.timestamps), list(second.volumes)) == ([T0 + 60], [2.0])
    assert len(again) == 0
    assert (list(third.timestamps), list(third.volumes)) == (
        [T0 + 120, T0 + 180, T0 + 240], [3.0, 4.0, 5.0])
    assert len(last) == 0


def test_the_first_poll_reaches_back_lookback_seconds_only(gnocchi, instance_type):
    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    metric = vm["metrics"]["cpu_util"]
    gnocchi.post_measures(metric, [(T0, 1.0), (T0 + 600, 2.0), (T0 + 1200, 3.0)])
    gnocchi.wait_for_points(metric, {T0: 1.0, T0 + 600: 2.0, T0 + 1200: 3.0})

    batch = collector(instance_type, g, lookback=700).collect(T0 + 1300)

    assert list(batch.timestamps) == [T0 + 600, T0 + 1200]


def test_series_are_reused_while_a_resource_is_unchanged_and_renewed_when_it_changes(
        gnocchi, instance_type):
    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g,
                                 display_name="before")
    metric = vm["metrics"]["cpu_util"]
    source = collector(instance_type, g)
    gnocchi.post_measures(metric, [(T0, 1.0)])
    gnocchi.wait_for_points(metric, {T0: 1.0})
    first = source.collect(T0 + 60)
    gnocchi.post_measures(metric, [(T0 + 60, 2.0)])
    gnocchi.wait_for_points(metric, {T0 + 60: 2.0})
    second = source.collect(T0 + 120)
    gnocchi.update_resource(instance_type, vm["id"], display_name="after")
    gnocchi.post_measures(metric, [(T0 + 120, 3.0)])
    gnocchi.wait_for_points(metric, {T0 + 120: 3.0})
    third = source.collect(T0 + 180)

    assert second.series[0] is first.series[0]
    assert third.series[0].metadata["display_name"] == "after"
    assert first.series[0].metadata["display_name"] == "before"


def test_resources_are_searched_page_by_page(gnocchi, instance_type):
    g = group()
    made = [gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                    server_group=g) for _ in range(5)]
    gnocchi.post_batch({vm["metrics"]["cpu_util"]: [(T0, float(i))]
                        for i, vm in enumerate(made)})
    for i, vm in enumerate(made):
        gnocchi.wait_for_points(vm["metrics"]["cpu_util"], {T0: float(i)})

    batch = collector(instance_type, g, page_size=2).collect(T0 + 60)

    assert sorted(zip(batch.resource_ids, batch.volumes.tolist())) == sorted(
        (vm["id"], float(i)) for i, vm in enumerate(made))


def test_more_resources_than_max_resources_are_refused(gnocchi, instance_type):
    g = group()
    for _ in range(3):
        gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)

    with pytest.raises(CollectError, match="more than 2 .* resources match"):
        collector(instance_type, g, max_resources=2, page_size=1).collect(T0 + 60)
    assert len(collector(instance_type, g, max_resources=3).collect(T0 + 60)) == 0


@pytest.mark.parametrize("api", ["aggregates", "measures"])
def test_a_metric_without_the_granularity_is_left_out_and_the_others_sent(gnocchi,
                                                                          instance_type,
                                                                          api):
    g = group()
    good = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    coarse = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                     server_group=g, archive_policy="low")  # 5 minutes
    gnocchi.post_measures(good["metrics"]["cpu_util"], [(T0, 7.0)])
    gnocchi.post_measures(coarse["metrics"]["cpu_util"], [(T0, 9.0)])
    gnocchi.wait_for_points(good["metrics"]["cpu_util"], {T0: 7.0})

    source = collector(instance_type, g, api=api)
    batch = source.collect(T0 + 60)
    gnocchi.post_measures(good["metrics"]["cpu_util"], [(T0 + 60, 8.0)])
    gnocchi.wait_for_points(good["metrics"]["cpu_util"], {T0 + 60: 8.0})
    later = source.collect(T0 + 120)

    assert batch.resource_ids == [good["id"]] and list(batch.volumes) == [7.0]
    assert later.resource_ids == [good["id"]] and list(later.volumes) == [8.0]


def test_resources_without_the_metrics_give_no_samples(gnocchi, instance_type):
    g = group()
    gnocchi.create_resource(instance_type, metrics={"memory": "MB"}, server_group=g)

    assert len(collector(instance_type, g).collect(T0 + 60)) == 0


def test_a_query_may_be_json_text(gnocchi, instance_type):
    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    gnocchi.post_measures(vm["metrics"]["cpu_util"], [(T0, 4.0)])
    gnocchi.wait_for_points(vm["metrics"]["cpu_util"], {T0: 4.0})

    text = json.dumps({"and": [{"=": {"server_group": g}}, {"=": {"ended_at": None}}]})
    batch = collector(instance_type, g, query=text).collect(T0 + 60)

    assert batch.resource_ids == [vm["id"]]


def test_a_query_gnocchi_refuses_is_a_collect_error_with_its_reason(gnocchi,
                                                                    instance_type):
    unknown_attribute = collector(instance_type, "x", query={"=": {"no_such": "web"}})
    unknown_operator = collector(instance_type, "x", query={"near": {"server_group": "w"}})

    with pytest.raises(CollectError, match="HTTP 400: Resource type .* has no no_such "
                                           "attribute"):
        unknown_attribute.collect(T0)
    with pytest.raises(CollectError, match="HTTP 400: Invalid input"):
        unknown_operator.collect(T0)


def test_an_unknown_resource_type_is_a_collect_error(gnocchi):
    source = collector("no_such_type_here", "x")

    with pytest.raises(CollectError, match="HTTP 404: Resource type no_such_type_here "
                                           "does not exist"):
        source.collect(T0)


def test_a_server_that_is_down_is_a_collect_error():
    source = collector("generic", "x", url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(CollectError, match="cannot reach http://127.0.0.1:"):
        source.collect(T0)


def test_the_collector_is_loaded_by_its_entry_point_name():
    source = load(COLLECTORS, "gnocchi", {"url": GNOCCHI_URL, "metrics": "cpu_util",
                                          "granularity": 300})

    assert isinstance(source, GnocchiCollector)
    assert (source.resource_type, source.metrics, source.aggregation) == (
        "generic", ("cpu_util",), "mean")


# -- bad parameters: named, before any poll ------------------------------------------
@pytest.mark.parametrize(("parameters", "field"), [
    ({"granularity": None}, "granularity"),
    ({"granularity": -60}, "granularity"),
    ({"url": "ftp://127.0.0.1"}, "url"),
    ({"url": None}, "url"),
    ({"query": "{not json"}, "query"),
    ({"query": {"=": {"a": 1}, "and": []}}, "query"),
    ({"metrics": []}, "metrics"),
    ({"metrics": [""]}, "metrics"),
    ({"aggregation": "average"}, "aggregation"),
    ({"resource_type": "a/b"}, "resource_type"),
    ({"auth": {"type": "ldap"}}, "auth.type"),
    ({"auth": {"type": "basic", "user": "a:b"}}, "auth.user"),
    ({"lookback": float("nan")}, "lookback"),
    ({"max_resources": 1.5}, "max_resources"),
    ({"timeout": True}, "timeout"),
    ({"api": "graphql"}, "api"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_parameters_are_refused_naming_the_parameter(parameters, field):
    settings = {"url": GNOCCHI_URL, "metrics": ["cpu_util"], "granularity": 60}
    settings.update(parameters)
    if parameters.get("granularity", 0) is None:
        del settings["granularity"]

    with pytest.raises(PipelineError) as raised:
        GnocchiCollector(settings)
    assert raised.value.field == field


# -- a broken or hostile Gnocchi (a stand-in: the real one never answers so) ----------
RESOURCE = {"id": "r1", "project_id": "p", "user_id": "u", "metrics": {"cpu_util": "m1"},
            "revision_start": "2027-01-15T08:00:00+00:00", "server_group": "web"}


def points(*rows) -> bytes:
    return json.dumps({"measures": {"m1": {"mean": list(rows)}},
                       "references": [{"id": "m1", "unit": "%"}]}).encode()


def crafted(aggregates: tuple[int, bytes], resources=(RESOURCE,), **kwargs):
    return CraftedGnocchi({"/v1/search/resource/": (200, json.dumps(list(resources))
                                                    .encode()),
                           "/v1/aggregates": aggregates}, **kwargs)


@pytest.mark.parametrize(("answer", "reason"), [
    ((200, b"[1, 2"), "not JSON"),
    ((200, b'{"measures": []}'), "no measures mapping"),
    ((200, points(["2027-01-15T08:00:00+00:00", 60.0])), "is not \\[timestamp"),
    ((200, points(["2027-01-15T08:00:00+00:00", 60.0, "1.0"])), "a value is not a number"),
    ((200, points(["2027-01-15T08:00:00+00:00", 300.0, 1.0])), "granularity is not 60"),
    ((200, points(["2027-01-15T08:00:00+00:00", 60.0, [1.0, 2.0]])), "a value is not a "
                                                                    "number"),
    ((200, points(["2027-01-15T08:00:00+00:00", 60.0, True], ["x", 60.0, 1.0])),
     "measures of m1: a timestamp is not ISO 8601"),
    ((200, points(["yesterday", 60.0, 1.0])), "not ISO 8601"),
    ((200, points([7, 60.0, 1.0])), "timestamp is not a short text"),
    ((500, b"<html>oops</html>"), "HTTP 500: <html>oops</html>"),
])
def test_an_ill_formed_answer_is_a_collect_error_saying_what_is_wrong(answer, reason):
    server = crafted(answer)
    try:
        with pytest.raises(CollectError, match=reason):
            collector("generic", "web", url=server.url).collect(1_800_000_000.0)
    finally:
        server.close()


def test_nan_and_null_points_are_dropped_and_the_rest_sent():
    server = crafted((200, points(["2027-01-15T08:00:00+00:00", 60.0, None],
                                  ["2027-01-15T08:01:00+00:00", 60.0, float("nan")],
                                  ["2027-01-15T08:02:00+00:00", 60.0, 2.5])))
    try:
        batch = collector("generic", "web", url=server.url).collect(1_900_000_000.0)
    finally:
        server.close()

    assert list(batch.volumes) == [2.5]
    assert list(batch.timestamps) == [np.datetime64("2027-01-15T08:02:00", "s")
                                      .astype(float)]
    assert batch.units == ["%"]


def test_a_resource_without_an_id_or_with_bad_metrics_is_a_collect_error():
    for resource, reason in [({**RESOURCE, "id": None}, "has no id"),
                             ({**RESOURCE, "metrics": ["m1"]}, "metrics are not"),
                             ({**RESOURCE, "project_id": 5}, "project_id is not a text")]:
        server = crafted((200, points()), resources=(resource,))
        try:
            with pytest.raises(CollectError, match=reason):
                collector("generic", "web", url=server.url).collect(T0)
        finally:
            server.close()


def test_an_answer_larger_than_max_bytes_is_refused():
    huge = points(*[["2027-01-15T08:00:00+00:00", 60.0, 1.0]] * 20000)
    server = crafted((200, huge))
    try:
        with pytest.raises(CollectError, match="larger than max_bytes"):
            collector("generic", "web", url=server.url, max_bytes=100_000).collect(T0)
    finally:
        server.close()


def test_a_server_slower_than_the_timeout_is_a_collect_error():
    server = crafted((200, points()), delay=2.0)
    try:
        with pytest.raises(CollectError, match="no answer .* within 0.3 s"):
            collector("generic", "web", url=server.url, timeout=0.3).collect(T0)
    finally:
        server.close()


def test_a_server_trickling_its_answer_is_cut_off_at_the_timeout():
    # one byte every 0.2 s: each read of the socket is quick, the whole answer is not
    server = crafted((200, points(*[["2027-01-15T08:00:00+00:00", 60.0, 1.0]] * 50)),
                     trickle=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(CollectError, match="no complete answer .* within 1 s"):
            collector("generic", "web", url=server.url, timeout=1.0).collect(T0)
        took = time.monotonic() - started
    finally:
        server.close()

    assert took < 1.0 + 2.0  # the deadline and a margin for a loaded machine


@pytest.mark.parametrize("where", ["/v1/aggregates", "/v1/search/resource/"])
def test_a_deeply_nested_answer_is_a_collect_error(where):
    nested = (200, b"[" * 100_000 + b"]" * 100_000)
    answers = {"/v1/search/resource/": (200, json.dumps([RESOURCE]).encode()),
               "/v1/aggregates": (200, points())}
    answers[where] = nested
    server = CraftedGnocchi(answers)
    try:
        with pytest.raises(CollectError, match="nested too deeply"):
            collector("generic", "web", url=server.url).collect(T0)
    finally:
        server.close()


def test_a_deeply_nested_error_answer_is_a_collect_error_with_its_status():
    server = crafted((500, b"[" * 100_000 + b"]" * 100_000))
    try:
        with pytest.raises(CollectError, match="HTTP 500"):
            collector("generic", "web", url=server.url).collect(T0)
    finally:
        server.close()


def test_a_server_without_aggregates_is_read_metric_by_metric():
    # an old Gnocchi (< 4.1): no /v1/aggregates route, so per-metric measures
    server = CraftedGnocchi({
        "/v1/search/resource/": (200, json.dumps([RESOURCE]).encode()),
        "/v1/metric/m1/measures": (200, json.dumps(
            [["2027-01-15T08:00:00+00:00", 60.0, 4.0]]).encode()),
        "/v1/metric/m1": (200, json.dumps({"id": "m1", "unit": "ns"}).encode()),
    })
    try:
        source = collector("generic", "web", url=server.url)
        batch = source.collect(1_900_000_000.0)
        source.collect(1_900_000_000.0)
    finally:
        server.close()

    assert list(batch.volumes) == [4.0] and batch.units == ["ns"]
    assert sum(p.startswith("/v1/aggregates") for p in server.paths) == 2  # once: POST, GET


def test_metrics_a_refusal_names_are_left_out_and_not_asked_for_again():
    refusal = {"code": 404, "description": {"cause": "Unknown metrics",
                                            "reason": "Provided metrics don't exists",
                                            "detail": ["m1"]}}
    server = crafted((404, json.dumps(refusal).encode()))
    try:
        source = collector("generic", "web", url=server.url)
        first, second = source.collect(T0), source.collect(T0 + 60)
    finally:
        server.close()

    assert len(first) == len(second) == 0
    assert sum(p.startswith("/v1/aggregates") for p in server.paths) == 1


# -- Keystone: the real keystone (tests/support/keystone.py) and a Gnocchi API in
# auth_mode keystone on the same data -----------------------------------------------
def test_with_keystone_auth_gnocchi_is_found_in_the_catalog_and_read_with_a_token(
        gnocchi, instance_type, tmp_path):
    pytest.importorskip("keystone", reason="the keystone package is not installed")
    from tests.support.gnocchi import KeystoneGnocchi
    from tests.support.keystone import ADMIN_PASSWORD, Keystone

    g = group()
    vm = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                 project_id="p1", server_group=g)
    gnocchi.post_measures(vm["metrics"]["cpu_util"], [(T0, 6.0)])
    gnocchi.wait_for_points(vm["metrics"]["cpu_util"], {T0: 6.0})
    keystone = Keystone(str(tmp_path / "keystone"))
    try:
        api = KeystoneGnocchi(keystone.direct_url, ADMIN_PASSWORD, str(tmp_path))
        try:
            admin = keystone.admin()
            service = admin.services.create(name="gnocchi", type="metric")
            admin.endpoints.create(service=service, url=api.url, interface="public",
                                   region="RegionOne")
            credentials = {"type": "keystone", "auth_url": keystone.url,
                           "username": "admin", "password": ADMIN_PASSWORD,
                           "project_name": "admin", "user_domain_id": "default",
                           "project_domain_id": "default"}
            source = collector(instance_type, g, url=None, auth=credentials)
            batch = source.collect(T0 + 60)
            wrong = collector(instance_type, g, url=api.url,
                              auth={**credentials, "password": "wrong"})
            with pytest.raises(CollectError, match="Unauthorized"):
                wrong.collect(T0 + 60)
            with pytest.raises(CollectError, match="HTTP 401"):
                collector(instance_type, g, url=api.url).collect(T0 + 60)  # basic
            # auth.section: the options of a group of the host's configuration, as
            # heat-engine has parsed it (a process of its own: cfg.CONF is global)
            conf = tmp_path / "host.conf"
            conf.write_text("[ha_gnocchi]\nauth_type = password\n" + "".join(
                f"{k} = {v}\n" for k, v in credentials.items() if k != "type"))
            from_section = subprocess.run(
                [sys.executable, "-c", SECTION_POLL, str(conf), instance_type, g],
                capture_output=True, text=True, timeout=120,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
        finally:
            api.close()
    finally:
        keystone.close()

    assert from_section.returncode == 0, from_section.stderr
    assert json.loads(from_section.stdout) == [[vm["id"], 6.0]]
    assert source.url == api.url
    assert (batch.resource_ids, list(batch.volumes)) == ([vm["id"]], [6.0])
    assert keystone.proxy.token_requests()  # the token came from keystone


def test_the_sources_resources_narrow_the_search_to_those_ids(gnocchi, instance_type):
    g = group()
    made = [gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                    server_group=g) for _ in range(3)]
    gnocchi.post_batch({vm["metrics"]["cpu_util"]: [(T0, float(i))]
                        for i, vm in enumerate(made)})
    for i, vm in enumerate(made):
        gnocchi.wait_for_points(vm["metrics"]["cpu_util"], {T0: float(i)})
    settings = {"url": GNOCCHI_URL, "resource_type": instance_type, "metrics": "cpu_util",
                "query": {"=": {"server_group": g}}, "granularity": 60, "lookback": 3600}

    batch = GnocchiCollector(settings, resources=[made[0]["id"], made[2]["id"]]).collect(
        T0 + 60)

    assert sorted(zip(batch.resource_ids, batch.volumes.tolist())) == sorted(
        [(made[0]["id"], 0.0), (made[2]["id"], 2.0)])


def test_many_metrics_without_the_aggregation_are_left_out_in_one_poll(gnocchi,
                                                                       instance_type):
    # Gnocchi names one metric of unknown aggregation per refusal
    g = group()
    policy = gnocchi.ensure_archive_policy("ha-test-60s-std", aggregations=("mean", "std"))
    good = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                   server_group=g, archive_policy=policy)
    for _ in range(6):  # the tests' policy has no std
        gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"}, server_group=g)
    gnocchi.post_measures(good["metrics"]["cpu_util"], [(T0, 1.0), (T0 + 1, 3.0)])
    gnocchi.wait_for_points(good["metrics"]["cpu_util"], {T0: 2 ** 0.5}, aggregation="std")
    source = collector(instance_type, g, aggregation="std")

    first = source.collect(T0 + 60)
    gnocchi.post_measures(good["metrics"]["cpu_util"], [(T0 + 60, 1.0), (T0 + 61, 5.0)])
    gnocchi.wait_for_points(good["metrics"]["cpu_util"], {T0 + 60: 8 ** 0.5},
                            aggregation="std")
    second = source.collect(T0 + 120)

    assert first.resource_ids == [good["id"]] and first.volumes.tolist() == [2 ** 0.5]
    assert second.resource_ids == [good["id"]] and second.volumes.tolist() == [8 ** 0.5]


def test_an_alarms_gnocchi_search_selects_in_the_store_what_gnocchi_would(gnocchi,
                                                                          instance_type):
    """Collector samples carry the resource's type and end, so an Aodh template's
    search ``server_group = g and ended_at = null`` (heat_alarming.metering.gnocchi_search)
    picks in our store exactly the live resources of the group."""
    from heat_alarming.metering import ManualClock, Query, RollingStore
    from heat_alarming.metering.gnocchi_search import translate_search

    g = f"grp-{uuid.uuid4().hex[:8]}"
    live = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                   project_id="p1", server_group=g)
    ended = gnocchi.create_resource(instance_type, metrics={"cpu_util": "%"},
                                    project_id="p1", server_group=g)
    gnocchi.update_resource(instance_type, ended["id"], ended_at="2027-01-15T08:30:00+00:00")
    gnocchi.post_batch({live["metrics"]["cpu_util"]: [(T0, 10.0)],
                        ended["metrics"]["cpu_util"]: [(T0, 20.0)]})
    gnocchi.wait_for_points(live["metrics"]["cpu_util"], {T0: 10.0})
    gnocchi.wait_for_points(ended["metrics"]["cpu_util"], {T0: 20.0})
    batch = collector(instance_type, g, query={"=": {"server_group": g}}).collect(T0 + 600)
    assert {d.metadata.get("type") for d in batch.series} == {instance_type}
    assert [d.metadata.get("ended_at") is not None for d in batch.series
            if d.resource_id == ended["id"]] == [True]

    store = RollingStore(resolution=60, retention=3600, clock=ManualClock(T0 + 600))
    assert store.ingest_batch(batch).accepted == 2
    search = {"and": [{"=": {"server_group": g}}, {"=": {"ended_at": None}}]}
    rows = store.select("cpu_util", Query(translate_search(search, instance_type)),
                        project_id="p1")
    assert [store.index.keys[r][1] for r in rows] == [live["id"]]
