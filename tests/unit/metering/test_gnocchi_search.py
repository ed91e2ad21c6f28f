"""Gnocchi's resource search selects series as Gnocchi's SQL indexer selects resources.

Samples come in two shapes: the Gnocchi collector's (the resource's attributes as flat
metadata keys, ``server_group``, ``ended_at``, ``type``) and Ceilometer's own (its
resource metadata: ``user_metadata.server_group`` or ``metering.server_group``,
``instance_host``...). The same search must find a resource in either shape.
"""
import json

import pytest

from heat_alarming.metering import Sample
from heat_alarming.metering.gnocchi_search import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_SEARCH_CHARS,
    TranslationError,
    check_resource_type,
    resource_id_term,
    resource_type_term,
    statistic_for,
    translate_search,
)
from heat_alarming.metering.query import Query, like_matcher

from .conftest import T0

RESOURCES = [
    # resource id, project, metadata (collector: Gnocchi attributes; ceilometer: its own)
    ("g-web-1", "p1", {"server_group": "web", "ended_at": None, "type": "instance",
                       "host": "cmp1", "vcpus": 2, "original_resource_id": "g-web-1"}),
    ("g-web-old", "p1", {"server_group": "web", "ended_at": "2026-12-01T10:00:00+00:00",
                         "type": "instance", "host": "cmp2", "vcpus": 4}),
    ("g-db-1", "p1", {"server_group": "db", "type": "instance", "host": "cmp1", "vcpus": 8}),
    ("g-disk-1", "p1", {"server_group": "web", "type": "instance_disk", "name": "vda"}),
    ("c-web-2", "p1", {"user_metadata": {"server_group": "web"}, "instance_host": "cmp3",
                       "host": "ignored-when-instance_host", "vcpus": 2}),
    ("c-web-3", "p1", {"metering.server_group": "web", "host": "cmp1"}),
    ("c-plain", "p1", {"display_name": "lonely"}),
    ("other-web", "p2", {"server_group": "web", "type": "instance"}),
    ("non-uuid-gnocchi-id", "p1", {"server_group": "batch",
                                   "original_resource_id": "instance-0001"}),
]


@pytest.fixture
def fleet(store):
    for rid, project, md in RESOURCES:
        store.add(Sample("cpu", 1.0, rid, project_id=project, timestamp=T0 - 5,
                         resource_metadata=md))
    return store


def found(store, search, resource_type="instance", project="p1"):
    terms = translate_search(search if isinstance(search, str) else json.dumps(search),
                             resource_type)
    rows = store.select("cpu", Query(terms), project_id=project)
    return sorted(store.index.keys[r][1] for r in rows)


def refusal(search, resource_type="instance") -> str:
    text = search if isinstance(search, str) else json.dumps(search)
    with pytest.raises(TranslationError) as caught:
        translate_search(text, resource_type)
    assert caught.value.field == "query"
    assert str(caught.value).startswith("query: ")
    return caught.value.reason


# -- what a search finds --------------------------------------------------------------
def test_an_attribute_is_the_collectors_key_or_else_the_ceilometer_path(fleet):
    assert found(fleet, {"=": {"server_group": "web"}}) == [
        "c-web-2", "c-web-3", "g-disk-1", "g-web-1", "g-web-old"]


def test_heats_autoscaling_search_leaves_ended_resources_out(fleet):
    search = '{"and": [{"=": {"server_group": "web"}}, {"=": {"ended_at": null}}]}'
    assert found(fleet, search) == ["c-web-2", "c-web-3", "g-disk-1", "g-web-1"]


def test_not_null_finds_the_ended(fleet):
    assert found(fleet, {"!=": {"ended_at": None}}) == ["g-web-old"]


@pytest.mark.parametrize("op", ["=", "==", "eq"])
def test_every_spelling_of_equals(fleet, op):
    assert found(fleet, {op: {"server_group": "db"}}) == ["g-db-1"]


@pytest.mark.parametrize("op", ["!=", "ne", "≠"])
def test_not_equal_also_finds_resources_without_the_attribute(fleet, op):
    # Gnocchi: server_group IS NULL OR server_group != 'web'
    assert found(fleet, {op: {"server_group": "web"}}) == [
        "c-plain", "g-db-1", "non-uuid-gnocchi-id"]


def test_not_of_a_comparison_with_a_missing_attribute_matches_nothing(fleet):
    # SQL: NOT (NULL = 'web') is NULL, so c-plain (no server_group anywhere) is not found
    assert found(fleet, {"not": {"=": {"server_group": "web"}}}) == [
        "g-db-1", "non-uuid-gnocchi-id"]


@pytest.mark.parametrize("op, value, expected", [
    ("<", 4, ["c-web-2", "g-web-1"]), ("lt", 4, ["c-web-2", "g-web-1"]),
    ("<=", 4, ["c-web-2", "g-web-1", "g-web-old"]), ("≤", 4, ["c-web-2", "g-web-1", "g-web-old"]),
    (">", 4, ["g-db-1"]), ("ge", 8, ["g-db-1"]), ("≥", 4, ["g-db-1", "g-web-old"]),
])
def test_numbers_compare_as_numbers(fleet, op, value, expected):
    assert found(fleet, {op: {"vcpus": value}}) == expected


def test_in_is_any_of_the_values(fleet):
    assert found(fleet, {"in": {"server_group": ["db", "batch"]}}) == [
        "g-db-1", "non-uuid-gnocchi-id"]


def test_like_is_sqls(fleet):
    assert found(fleet, {"like": {"host": "cmp%"}}) == [
        "c-web-2", "c-web-3", "g-db-1", "g-web-1", "g-web-old"]
    assert found(fleet, {"like": {"host": "cmp_"}}) == [
        "c-web-2", "c-web-3", "g-db-1", "g-web-1", "g-web-old"]
    assert found(fleet, {"like": {"host": "%2"}}) == ["g-web-old"]


def test_the_ceilometer_path_follows_ceilometers_preference(fleet):
    # instance host: Ceilometer takes instance_host before host
    assert found(fleet, {"=": {"host": "cmp3"}}) == ["c-web-2"]


def test_and_or_not_nest(fleet):
    search = {"or": [{"and": [{"=": {"server_group": "web"}}, {"=": {"ended_at": None}},
                              {"not": {"like": {"host": "cmp1"}}}]},
                     {"∧": [{"=": {"server_group": "db"}}]}]}
    # g-disk-1 has no host: "not like" of a missing attribute is unknown, so not found
    assert found(fleet, search) == ["c-web-2", "g-db-1"]


def test_unicode_and_or_are_read_as_gnocchis_indexer_reads_them(fleet):
    assert found(fleet, {"∨": [{"=": {"server_group": "db"}},
                               {"=": {"server_group": "batch"}}]}) == [
        "g-db-1", "non-uuid-gnocchi-id"]


def test_id_is_the_resource_id_or_the_original_id(fleet):
    assert found(fleet, {"=": {"id": "c-web-3"}}) == ["c-web-3"]
    assert found(fleet, {"=": {"id": "instance-0001"}}) == ["non-uuid-gnocchi-id"]
    assert "non-uuid-gnocchi-id" not in found(fleet, {"!=": {"id": "instance-0001"}})
    assert len(found(fleet, {"!=": {"id": "c-web-3"}})) == 7  # every other of p1's


def test_an_empty_search_is_every_resource_of_the_project(fleet):
    assert len(found(fleet, {})) == 8


# -- isolation --------------------------------------------------------------------------
@pytest.mark.parametrize("search", [
    {"=": {"server_group": "web"}},
    {"=": {"project_id": "p2"}},
    {"or": [{"=": {"project_id": "p2"}}, {"=": {"project_id": "p1"}}]},
    {"not": {"=": {"project_id": "p1"}}},
    {},
])
def test_no_search_reaches_another_projects_resources(fleet, search):
    assert "other-web" not in found(fleet, search, project="p1")
    assert set(found(fleet, search, project="p2")) <= {"other-web"}


# -- the resource type and id ---------------------------------------------------------
def test_the_resource_type_keeps_other_types_of_collector_samples_out(fleet):
    terms = translate_search('{"=": {"server_group": "web"}}', "instance") + (
        resource_type_term("instance"),)
    rows = fleet.select("cpu", Query(terms), project_id="p1")
    assert sorted(fleet.index.keys[r][1] for r in rows) == [
        "c-web-2", "c-web-3", "g-web-1", "g-web-old"]  # not the instance_disk
    assert resource_type_term("generic") is None


def test_the_instance_disk_type_reads_ceilometers_disk_name(store):
    store.add(Sample("disk.read.bytes", 1.0, "d1", project_id="p1", timestamp=T0 - 5,
                     resource_metadata={"disk_name": "vdb"}))
    rows = store.select("disk.read.bytes",
                        Query(translate_search('{"=": {"name": "vdb"}}', "instance_disk")),
                        project_id="p1")
    assert rows.size == 1


def test_a_resource_id_finds_the_gnocchi_id_or_the_original(fleet):
    for wanted, expected in (("g-web-1", 1), ("instance-0001", 1), ("nope", 0)):
        rows = fleet.select("cpu", Query((resource_id_term(wanted),)), project_id="p1")
        assert rows.size == expected


@pytest.mark.parametrize("name", ["instance", "generic", "instance_network_interface",
                                  "my.custom-type"])
def test_resource_type_names_are_checked(name):
    assert check_resource_type(name) == name


@pytest.mark.parametrize("name", ["", "has space", None, 3, "x" * 256])
def test_bad_resource_type_names_are_refused_naming_resource_type(name):
    with pytest.raises(TranslationError, match="^resource_type: "):
        check_resource_type(name)


# -- aggregation methods ------------------------------------------------------------
@pytest.mark.parametrize("method, statistic", [
    ("mean", "avg"), ("max", "max"), ("min", "min"), ("sum", "sum"), ("count", "count"),
    ("last", "last"), ("std", "std"), ("median", "p50"), ("95pct", "p95"), ("1pct", "p1")])
def test_aggregation_methods_map_onto_our_statistics(method, statistic):
    assert statistic_for(method) == statistic


@pytest.mark.parametrize("method, why", [
    ("rate:mean", "rate_of_change"), ("rate:max", "rates"), ("first", "first"),
    ("var", "var"), ("average", "not one of"), ("100pct", "not one of"), ("", "required"),
    (None, "required")])
def test_other_aggregation_methods_are_refused_naming_the_value(method, why):
    with pytest.raises(TranslationError) as caught:
        statistic_for(method)
    assert caught.value.field == "aggregation_method"
    assert why in caught.value.reason
    if method:
        assert repr(method) in caught.value.reason


# -- refusals -------------------------------------------------------------------------
@pytest.mark.parametrize("search, why", [
    ('{"=": {"server_group": "web"', "not JSON"),
    ("NaN", "NaN"),
    ('{"=": {"vcpus": Infinity}}', "Infinity"),
    ('[{"=": {"server_group": "web"}}]', "not a search"),
    ('"server_group=web"', "not a search"),
    ('{"=": {"server_group": "web"}, "!=": {"host": "x"}}', "not a search"),
    ('{"~": {"server_group": "web"}}', "not an operator"),
    ('{"=": {"server_group": "web", "host": "x"}}', "one {attribute: value}"),
    ('{"=": {"server_group": ["web"]}}', "a value must be"),
    ('{"=": {"server_group": {"x": 1}}}', "a value must be"),
    ('{"and": []}', "non-empty list"),
    ('{"and": {"=": {"a": 1}}}', "non-empty list"),
    ('{"in": {"server_group": []}}', "non-empty list"),
    ('{"in": {"server_group": "web"}}', "non-empty list"),
    ('{"in": {"server_group": ["web", null]}}', "null"),
    ('{"like": {"vcpus": 2}}', "text pattern"),
    ('{"like": {"id": "a%"}}', "'id'"),
    ('{"<": {"vcpus": null}}', "null"),
    ('{">=": {"started_at": "2026-01-01"}}', "only be compared with null"),
    ('{"<": {"ended_at": "2026-01-01"}}', "only be compared with null"),
    ('{"=": {"lifespan": "1 hour"}}', "life span"),
    ('{"=": {"created_by_project_id": "p2"}}', "own project"),
    ('{"=": {"creator": "u:p"}}', "creator"),
    ('{"=": {"a.b": "x"}}', "not a Gnocchi attribute name"),
    ('{"=": {"": "x"}}', "not an attribute name"),
    ('{"not": []}', "not a search"),
])
def test_what_cannot_be_translated_is_refused_naming_query(search, why):
    assert why in refusal(search)


def test_a_huge_search_is_refused_before_it_is_parsed():
    search = json.dumps({"=": {"server_group": "x" * MAX_SEARCH_CHARS}})
    assert "characters" in refusal(search)


def test_deep_nesting_is_refused():
    search = {"=": {"server_group": "web"}}
    for _ in range(MAX_DEPTH + 1):
        search = {"not": search}
    assert "nested" in refusal(search)
    assert "nested" in refusal("[" * 4000 + "]" * 4000)  # beyond the JSON parser's own limit


def test_too_many_comparisons_are_refused():
    search = {"in": {"server_group": [f"g{i}" for i in range(MAX_COMPARISONS + 1)]}}
    assert "comparisons" in refusal(search)


# -- like -----------------------------------------------------------------------------
@pytest.mark.parametrize("pattern, text, expected", [
    ("web%", "web-1", True), ("web%", "Web-1", False), ("%-1", "web-1", True),
    ("w_b-1", "web-1", True), ("w_b", "web-1", False), ("%", "", True), ("", "", True),
    ("a%b%c", "aXbYc", True), ("a%b%c", "acb", False), ("100\\%", "100%", True),
    ("100\\%", "1000", False), ("a\\_b", "a_b", True), ("a\\_b", "axb", False),
    ("%ab%ab%", "xabyab", True), ("%aa%", "a", False), ("a%a", "a", False)])
def test_like_patterns(pattern, text, expected):
    assert like_matcher(pattern)(text) is expected


def test_like_does_not_backtrack_on_hostile_patterns():
    import time
    text = "a" * 20_000
    started = time.perf_counter()
    assert like_matcher("%a" * 30 + "%b")(text) is False
    assert time.perf_counter() - started < 1.0
