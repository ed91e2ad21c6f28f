"""A template's PromQL reads only its own project's series, whatever it is made to say.

A real Prometheus scrapes an exporter holding two projects' series: project A's are
small (1 and 2), project B's huge (1,000,000). Every hostile query is scoped to A as the
engine scopes it and sent to that Prometheus: nothing of B may come back, neither a
series labelled B nor any value that only B's series could have made.
"""
from __future__ import annotations

import uuid

import pytest

from heat_alarming.engine.promql import scope
from tests.support.prometheus import scraped_exporter

METRIC = "heat_alarming_isolation_load"
HUGE = 1_000_000.0


@pytest.fixture(scope="module")
def projects(prometheus):
    """Two projects' series in one exporter, scraped (one exporter for the module: the
    queries only read)."""
    exporter, target = scraped_exporter(prometheus)
    a, b = "a-" + uuid.uuid4().hex[:10], "b-" + uuid.uuid4().hex[:10]
    gauge = exporter.gauge(METRIC, labels=("project", "member"))
    gauge.labels(project=a, member="a1").set(1.0)
    gauge.labels(project=a, member="a2").set(2.0)
    gauge.labels(project=b, member="b1").set(HUGE)
    prometheus.wait_for(f'count({METRIC}{{exporter="{exporter.id}"}})', 3.0)
    yield a, b
    target.remove()
    exporter.close()


def ask(prometheus, query, project):
    client = prometheus.client(timeout=10.0)
    try:
        return client.query(scope(query, "project", project))
    finally:
        client.close()


HOSTILE = [
    '{__name__=~".+"}',
    f'{{__name__=~"{METRIC}|up"}}',
    "count({__name__=~\".+\"})",
    f"sum({METRIC})",
    f'{METRIC}{{project=~".+"}}',
    f"{METRIC} or vector(1)",
    f"vector(1) or {METRIC}",
    f'label_replace({METRIC}, "project", "x", "", "")',
    f'label_replace({METRIC}, "dst", "}}{{project=~\\".+\\"}}", "member", "(.*)")',
    f"max_over_time({METRIC}[1m:1s])",
    f"sum(rate({METRIC}[1m]))",
    f"{METRIC} # {{project=~\".+\"}}",
    f"sum by (project) ({METRIC})",
    "topk(5, {__name__=~\"heat_alarming_isolation.*\"})",
    f"{METRIC} @ end()",
    f'count_values("v", {METRIC})',
    f"{METRIC} and on() vector(1)",
    f"{METRIC} * on(member) group_left(project) {METRIC}",
    f"max({METRIC} offset 1s)",
    # keywords where an operand goes are metric names to Prometheus: scoped as such
    "sum", "offset", "and", "by", f"sum + on() group_left {METRIC}",
    f"sum({METRIC}) > bool 0",
    f"(((({METRIC}))))",
    f"-{METRIC}",
    f"SUM({METRIC}) BY (project)",
    f"max_over_time(rate({METRIC}[1m])[5m:1s] offset 1s)",
    f"{METRIC} unless {METRIC}{{member=\"a1\"}}",
    f"{METRIC} atan2 {METRIC}",
    f"sum without () ({METRIC})",
    f'rate({{__name__="{METRIC}"}}[1m])',
    f"count({METRIC}) by (project,) > 0",
    f"{METRIC} # the end, {{project=~\".+\"}}",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_scoped_to_one_project_sees_nothing_of_another(
        prometheus, projects, query):
    a, b = projects
    answer = ask(prometheus, query, a)
    assert all(s.labels.get("project") != b for s in answer), answer
    assert all(abs(s.value) < HUGE for s in answer), answer


def test_unscoped_the_same_query_would_read_the_other_project(prometheus, projects):
    """The control: the test Prometheus really holds B's series, so a leak would show."""
    a, b = projects
    client = prometheus.client()
    try:
        everything = client.query(f'{{__name__=~".+",project=~"{a}|{b}"}}')
    finally:
        client.close()
    assert {s.labels["project"] for s in everything} == {a, b}
    mine = ask(prometheus, '{__name__=~".+"}', a)
    assert sorted(s.value for s in mine) == [1.0, 2.0]
    assert {s.labels["project"] for s in mine} == {a}


def test_naming_the_other_project_matches_nothing_and_cannot_probe_it(prometheus, projects):
    a, b = projects
    assert ask(prometheus, f'{METRIC}{{project="{b}"}}', a) == []
    # absent() answers alike for a project that exists and one that does not
    there = ask(prometheus, f'absent({METRIC}{{project="{b}"}})', a)
    nowhere = ask(prometheus, f'absent({METRIC}{{project="no-such-project"}})', a)
    assert [s.value for s in there] == [s.value for s in nowhere] == [1.0]


def test_aggregations_count_only_the_projects_own_series(prometheus, projects):
    a, _ = projects
    assert [s.value for s in ask(prometheus, f"sum({METRIC})", a)] == [3.0]
    assert [s.value for s in ask(prometheus, f"count({METRIC})", a)] == [2.0]
    assert [s.value for s in ask(prometheus, 'count({__name__=~".+"})', a)] == [2.0]
