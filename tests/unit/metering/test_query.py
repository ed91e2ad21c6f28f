"""Queries select series by id fields and metadata, in every spelling Heat accepts."""
import pytest

from heat_alarming.metering import QueryError, Sample, build_query

from .conftest import T0

SERVERS = [
    # resource, project, user, source, metadata
    ("vm1", "p1", "u1", "nova", {"user_metadata": {"server_group": "web"}, "vcpus": 2,
                                 "flavor": {"name": "m1.small"}}),
    ("vm2", "p1", "u2", "nova", {"metering.server_group": "web", "vcpus": 4,
                                 "flavor": {"name": "m1.large"}}),
    ("vm3", "p2", "u1", "snmp", {"metering": {"server_group": "db"}, "vcpus": 8}),
    ("vm4", "p2", "u3", "snmp", {"vcpus": "16", "status": "active"}),
]


@pytest.fixture
def fleet(store):
    for rid, project, user, source, md in SERVERS:
        store.add(Sample("cpu", 1.0, rid, project_id=project, user_id=user, source=source,
                         timestamp=T0 - 5, resource_metadata=md))
    store.add(Sample("mem", 1.0, "vm1", project_id="p1", timestamp=T0 - 5))
    return store


def names(store, query=None, matching_metadata=None, meter="cpu"):
    rows = store.select(meter, query, matching_metadata)
    return sorted(store.index.keys[r][1] for r in rows)


@pytest.mark.parametrize("field", [
    "metadata.user_metadata.server_group", "metadata.metering.server_group",
    "user_metadata.server_group", "metering.server_group"])
def test_every_user_tag_spelling_selects_the_same_series(fleet, field):
    assert names(fleet, [{"field": field, "op": "eq", "value": "web"}]) == ["vm1", "vm2"]


@pytest.mark.parametrize("key", ["server_group", "metadata.user_metadata.server_group",
                                 "metadata.metering.server_group", "metering.server_group",
                                 "user_metadata.server_group"])
def test_matching_metadata_keys_name_user_tags_as_heat_does(fleet, key):
    assert names(fleet, matching_metadata={key: "db"}) == ["vm3"]


@pytest.mark.parametrize("op, value, expected", [
    ("eq", 4, ["vm2"]),
    ("ne", 4, ["vm1", "vm3", "vm4"]),
    ("lt", 8, ["vm1", "vm2"]),
    ("le", 8, ["vm1", "vm2", "vm3"]),
    ("gt", 4, ["vm3", "vm4"]),
    ("ge", 4, ["vm2", "vm3", "vm4"]),
])
def test_numeric_comparisons_over_metadata(fleet, op, value, expected):
    assert names(fleet, [{"field": "metadata.vcpus", "op": op, "value": value}]) == expected


@pytest.mark.parametrize("op, value, expected", [
    ("eq", "m1.small", ["vm1"]),
    ("ne", "m1.small", ["vm2"]),  # a series without the field never matches
    ("lt", "m1.large", []),
    ("le", "m1.large", ["vm2"]),
    ("gt", "m1.large", ["vm1"]),
    ("ge", "m1.large", ["vm1", "vm2"]),
])
def test_text_comparisons_over_nested_metadata(fleet, op, value, expected):
    assert names(fleet, [{"field": "metadata.flavor.name", "op": op, "value": value}]) \
        == expected


@pytest.mark.parametrize("field, op, value, expected", [
    ("resource_id", "eq", "vm3", ["vm3"]),
    ("resource_id", "ge", "vm3", ["vm3", "vm4"]),
    ("project_id", "eq", "p2", ["vm3", "vm4"]),
    ("project", "ne", "p2", ["vm1", "vm2"]),
    ("user_id", "eq", "u1", ["vm1", "vm3"]),
    ("source", "eq", "snmp", ["vm3", "vm4"]),
    ("resource", "lt", "vm2", ["vm1"]),
])
def test_sample_attribute_fields(fleet, field, op, value, expected):
    assert names(fleet, [{"field": field, "op": op, "value": value}]) == expected


def test_declared_types_coerce_text_values(fleet):
    query = [{"field": "metadata.vcpus", "op": "gt", "value": "4", "type": "integer"}]
    assert names(fleet, query) == ["vm3", "vm4"]
    as_text = [{"field": "metadata.vcpus", "op": "eq", "value": "16"}]
    assert names(fleet, as_text) == ["vm4"]


def test_conditions_combine_with_and_and_meters_are_separate(fleet):
    query = [{"field": "project_id", "op": "eq", "value": "p1"},
             {"field": "metadata.vcpus", "op": "ge", "value": 4}]
    assert names(fleet, query) == ["vm2"]
    assert names(fleet, [{"field": "project_id", "op": "eq", "value": "p1"}],
                 meter="mem") == ["vm1"]


def test_a_changed_tag_moves_the_series_between_groups(fleet):
    fleet.add(Sample("cpu", 1.0, "vm1", project_id="p1", user_id="u1", source="nova",
                     timestamp=T0 - 4, resource_metadata={"metering.server_group": "db"}))
    assert names(fleet, matching_metadata={"server_group": "db"}) == ["vm1", "vm3"]
    assert names(fleet, matching_metadata={"server_group": "web"}) == ["vm2"]
    assert names(fleet, [{"field": "metadata.vcpus", "op": "eq", "value": 2}]) == []


def test_timestamp_items_narrow_the_time_range():
    query = build_query([{"field": "timestamp", "op": "ge", "value": "2023-11-14T21:00:00"},
                         {"field": "timestamp", "op": "lt", "value": T0}])
    assert query.conditions == () and query.start == T0 - 3600 and query.end == T0


@pytest.mark.parametrize("query, words", [
    ([{"field": "", "op": "eq", "value": 1}], "query[0].field"),
    ([{"field": "resource_id", "op": "like", "value": 1}], "query[0].op"),
    ([{"field": "hostname", "op": "eq", "value": 1}], "unknown field 'hostname'"),
    ([{"field": "metadata.x", "op": "eq", "value": "a", "type": "integer"}],
     "query[0].value: 'a' is not an integer"),
    ([{"field": "metadata.x", "op": "eq", "value": 1, "type": "blob"}], "query[0].type"),
    ([{"field": "timestamp", "op": "eq", "value": T0}], "timestamp accepts"),
    ([{"field": "resource_id", "op": "eq"}], "query[0].value"),
    ([{"field": "resource_id", "op": "eq", "value": 1, "extra": 2}], "unknown key"),
    ("resource_id=vm1", "must be a list"),
])
def test_malformed_queries_are_refused_naming_the_item(query, words):
    with pytest.raises(QueryError) as caught:
        build_query(query)
    assert words in str(caught.value)


def test_matching_metadata_must_be_a_mapping():
    with pytest.raises(QueryError, match="matching_metadata"):
        build_query(None, ["server_group"])
