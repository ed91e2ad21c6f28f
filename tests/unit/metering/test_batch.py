"""Columnar sample batches: built once from checked samples, encoded for the journal,
read back trusting nothing, and ingested with exactly the checks and refusals of
``RollingStore.ingest``."""
from __future__ import annotations

import numpy as np
import pytest

from heat_alarming.metering import ManualClock, RollingStore, Sample
from heat_alarming.metering.batch import BatchError, SampleBatch, SeriesDescriptor, id_digests

T0 = 1_767_225_600.0


def samples(n=6, project="p"):
    return [Sample("cpu_util", float(k), f"vm-{k % 3}", project_id=project,
                   timestamp=T0 - 10 * k, resource_metadata={"group": "web"} if k % 3 == 1 else {})
            for k in range(n)]


def hand_built(rows):
    """A batch as a hostile payload could carry it: (descriptor, volume, time) rows."""
    series, codes = [], []
    for descriptor, _, _ in rows:
        if descriptor not in series:
            series.append(descriptor)
        codes.append(series.index(descriptor))
    return SampleBatch(tuple(series), np.array(codes, dtype=np.uint32),
                       np.array([r[1] for r in rows], dtype=np.float64),
                       np.array([r[2] for r in rows], dtype=np.float64))


def series(name="cpu_util", resource="vm", project="p", metadata=None, **fields):
    values = {"type": "gauge", "unit": "%", "user_id": None, "source": "heat-alarming"}
    values.update(fields)
    return SeriesDescriptor(name, resource, project, values["type"], values["unit"],
                            values["user_id"], values["source"], metadata or {})


def twin_stores(**kwargs):
    clock = ManualClock(T0)
    return [RollingStore(10, 600, clock=clock, **kwargs) for _ in range(2)]


def test_a_batch_holds_each_series_once_and_its_values_as_float64_columns():
    batch = SampleBatch.from_samples(samples(), now=T0)
    assert len(batch) == 6
    assert len(batch.series) == 3, "each series once"
    assert batch.volumes.dtype == np.float64 and batch.timestamps.dtype == np.float64
    assert batch.names == ["cpu_util"] * 6
    assert batch.resource_ids == [f"vm-{k % 3}" for k in range(6)]
    assert batch.metadata[4] == {"group": "web"} and batch.metadata[3] == {}


def test_a_sample_without_timestamp_is_now_and_the_project_given_is_every_samples():
    batch = SampleBatch.from_samples([Sample("m", "5", "r", timestamp=None)], now=T0,
                                     project_id="tenant")
    assert batch.timestamps.tolist() == [T0]
    assert batch.volumes.tolist() == [5.0], "a checked text volume becomes a float once"
    assert batch.projects() == {"tenant"}


def test_samples_sharing_one_metadata_map_make_the_batch_of_equal_maps():
    # the listener gives a resource's samples one map; a batch of them is the batch of
    # samples each with its own equal map, and another map (of another resource, maybe
    # freed and its memory reused) is never taken for it
    shared = {"group": "web", "flavor": {"vcpus": 1}}
    one = [Sample("cpu_util", float(k), "vm", project_id="p", timestamp=T0 + k,
                  resource_metadata=shared if k < 3 else {"group": "db"})
           for k in range(6)]
    own = [Sample("cpu_util", float(k), "vm", project_id="p", timestamp=T0 + k,
                  resource_metadata=dict(shared, flavor={"vcpus": 1}) if k < 3
                  else {"group": "db"}) for k in range(6)]
    built, expected = SampleBatch.from_samples(one, T0), SampleBatch.from_samples(own, T0)
    assert built.encode() == expected.encode()
    assert [s.resource_metadata for s in built.samples()] == \
        [s.resource_metadata for s in own]


def test_maps_made_and_dropped_while_a_batch_is_built_are_each_their_own():
    # a generator's samples (and their maps) may be freed as soon as they are read, and
    # a new map may then sit where an old one was: each is still read for itself
    def made():
        for k in range(50):
            yield Sample("cpu_util", float(k), "vm", project_id="p", timestamp=T0 + k,
                         resource_metadata={"n": str(k)})
    built = SampleBatch.from_samples(made(), T0)
    assert [s.resource_metadata for s in built.samples()] == [{"n": str(k)} for k in range(50)]


def test_an_encoded_batch_reads_back_the_same():
    batch = SampleBatch.from_samples(samples(), now=T0)
    back = SampleBatch.decode(batch.encode())
    assert back.series == batch.series
    assert back.codes.tolist() == batch.codes.tolist()
    assert back.volumes.tolist() == batch.volumes.tolist()
    assert back.timestamps.tolist() == batch.timestamps.tolist()
    assert [s.resource_metadata for s in back.samples()] == [
        s.resource_metadata for s in samples()]


def test_message_ids_travel_with_the_batch_as_digests():
    ids = [f"msg-{i}" if i % 2 else None for i in range(len(samples()))]
    batch = SampleBatch.from_samples(samples(), now=T0, message_ids=ids)
    assert batch.ids.tolist() == id_digests(ids).tolist()
    assert [d == 0 for d in batch.ids.tolist()] == [m is None for m in ids]
    back = SampleBatch.decode(batch.encode())
    assert back.ids.tolist() == batch.ids.tolist()
    kept = back.take(back.ids != 0)
    assert len(kept) == sum(m is not None for m in ids)
    assert kept.volumes.tolist() == [v for v, m in zip(batch.volumes.tolist(), ids) if m]
    assert SampleBatch.decode(SampleBatch.from_samples(samples(), now=T0).encode()).ids \
        is None, "a batch without ids reads back without"
    with pytest.raises(ValueError, match="message ids for"):
        SampleBatch.from_samples(samples(), now=T0, message_ids=["one"])


def test_a_batch_of_the_first_format_without_ids_still_reads():
    batch = SampleBatch.from_samples(samples(), now=T0)
    payload = batch.encode()
    first = payload[:4] + bytes([1]) + payload[5:-8 * len(batch)]  # version 1: no ids
    back = SampleBatch.decode(first)
    assert back.ids is None and back.volumes.tolist() == batch.volumes.tolist()


@pytest.mark.parametrize("damage", [
    lambda b: b[:10],                                   # shorter than its header
    lambda b: b"XXXX" + b[4:],                          # not a batch
    lambda b: b[:-1],                                   # cut short
    lambda b: b + b"\0",                                # longer than it says
])
def test_a_damaged_payload_is_refused_whole(damage):
    payload = SampleBatch.from_samples(samples(), now=T0).encode()
    with pytest.raises(BatchError):
        SampleBatch.decode(damage(payload))


@pytest.mark.parametrize("descriptors", [
    b'{"a": 1}',                                        # not a list of series
    b'[["m", "r", "p", "gauge", "", null, "s"]]',       # seven fields
    b'[["m", "r", "p", "gauge", "", null, "s", []]]',   # metadata not a mapping
    b'[["m", "r"',                                      # not JSON
    b'[["m", "r", ["p"], "gauge", "", null, "s", {}]]', # a project that is no text
    b'[[1, "r", "p", "gauge", "", null, "s", {}]]',     # a meter that is no text
])
def test_a_payload_with_forged_series_is_refused(descriptors):
    good = SampleBatch((series(),), np.zeros(1, np.uint32), np.ones(1), np.full(1, T0))
    payload = good.encode()
    header, rest = payload[:13], payload[13:]
    text_size = int.from_bytes(header[9:13], "little")
    forged = header[:9] + len(descriptors).to_bytes(4, "little") + descriptors \
        + rest[text_size:]
    with pytest.raises(BatchError):
        SampleBatch.decode(forged)


def test_a_code_that_names_no_series_is_refused():
    batch = SampleBatch((series(),), np.array([1], np.uint32), np.ones(1), np.full(1, T0))
    with pytest.raises(BatchError, match="names no series"):
        SampleBatch.decode(batch.encode())


def test_ingest_batch_accepts_and_refuses_exactly_what_ingest_does():
    """A hostile batch (one a forged journal row could carry): every refusal of ingest(),
    with the same position, field and reason, and the same windows after."""
    huge = {"blob": "x" * 10_000}
    rows = [
        (series(), 10.0, T0 - 5),
        (series(), float("nan"), T0 - 5),                   # not finite
        (series(resource="vm2"), 20.0, T0 - 3600),          # older than the retention
        (series(resource="vm3"), 30.0, T0 + 3600),          # too far in the future
        (series(resource="big", metadata=huge), 1.0, T0),   # metadata too large
        (series(name=""), 1.0, T0),                         # no meter name
        (series(name="m\x00"), 1.0, T0),                    # NUL in a name
        (series(type="counter"), 1.0, T0),                  # not a meter type
        (series(resource="vm2"), 2e100, T0),                # beyond +-1e100
        (series(resource="vm2", metadata={"g": "a"}), 5.0, T0 - 1),  # attrs change
        (series(resource="vm2", metadata={"g": "a"}), 6.0, T0),
        (series(), 12.0, T0),
    ]
    batch = hand_built(rows)
    by_batch, by_samples = twin_stores()
    got = by_batch.ingest_batch(batch)
    want = by_samples.ingest(list(batch.samples()))
    assert got.accepted == want.accepted == 4
    assert got.rejected == want.rejected
    for store in (by_batch, by_samples):
        store.flush()
    stats = [store.statistics("cpu_util", period=600, start=T0 - 600, end=T0 + 10,
                              aggregates=["count", "sum"]) for store in (by_batch,
                                                                         by_samples)]
    assert stats[0].values["sum"].tolist() == stats[1].values["sum"].tolist()
    assert len(by_batch) == len(by_samples) == 2
    row = int(by_batch.select("cpu_util", project_id="p",
                              query=[{"field": "resource_id", "op": "eq",
                                      "value": "vm2"}])[0])
    assert by_batch.index.attrs[row][4] == {"g": "a"}, "the series took the new metadata"


def test_ingest_batch_keeps_each_projects_series_quota():
    by_batch, by_samples = twin_stores(max_series_per_project=2)
    rows = [(series(resource=f"vm{k % 3}"), float(k), T0 - k) for k in range(9)]
    rows += [(series(resource="other", project="q"), 1.0, T0)]
    batch = hand_built(rows)
    got = by_batch.ingest_batch(batch)
    want = by_samples.ingest(list(batch.samples()))
    assert got == want
    assert got.accepted == 7, "two series of p (six rows) and q's one"
    assert {r.index for r in got.rejected} == {2, 5, 8}
    assert all("quota of 2 series" in r.reason for r in got.rejected)


def test_ingest_batch_refuses_rows_behind_the_rings_window_as_ingest_does():
    by_batch, by_samples = twin_stores()
    for store in (by_batch, by_samples):
        store.ingest([Sample("cpu_util", 1.0, "vm", project_id="p", timestamp=T0 + 290)])
    by_batch.clock.set(T0 - 600)  # the clock steps back behind the ring's head
    batch = hand_built([(series(), 1.0, T0 - 1100), (series(), 2.0, T0 - 300)])
    got = by_batch.ingest_batch(batch)
    assert got == by_samples.ingest(list(batch.samples()))
    assert got.accepted == 1 and got.rejected[0].index == 0


def test_an_empty_batch_stores_nothing():
    store = twin_stores()[0]
    assert store.ingest_batch(SampleBatch.empty()) == (0, [])
    assert len(store) == 0


def test_a_series_tuple_polled_again_still_has_its_values_checked_and_its_series_kept():
    """A collector reuses one series tuple across polls, and the store skips the
    per-series checks for it while its index is unchanged: the values are still
    checked, and a change made by another batch, or a forgotten series, is seen."""
    clock = ManualClock(T0)
    store = RollingStore(resolution=10, retention=60, clock=clock)
    WEB = [{"field": "metadata.group", "op": "eq", "value": "web"}]  # noqa: N806
    web = (series(resource="vm-1", metadata={"group": "web"}),
           series(resource="vm-2", metadata={"group": "web"}))
    polled = SampleBatch(web, np.array([0, 1], np.uint32), np.array([1.0, 2.0]),
                         np.array([T0, T0]))
    assert store.ingest_batch(polled).accepted == 2
    again = SampleBatch(web, np.array([0, 1], np.uint32), np.array([3.0, np.nan]),
                        np.array([T0, T0]))
    result = store.ingest_batch(again)
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [(1, "volume")]

    moved = (series(resource="vm-1", metadata={"group": "db"}),)
    store.ingest_batch(SampleBatch(moved, np.array([0], np.uint32), np.array([4.0]),
                                   np.array([T0])))
    assert store.select("cpu_util", WEB).size == 1
    store.ingest_batch(again)
    assert store.select("cpu_util", WEB).size == 2

    clock.advance(200)  # past the retention: both series forgotten
    store.reclaim()
    store.reclaim()
    assert len(store) == 0
    late = SampleBatch(web, np.array([0, 1], np.uint32), np.array([5.0, 6.0]),
                       np.array([clock(), clock()]))
    assert store.ingest_batch(late).accepted == 2
    assert store.select("cpu_util", WEB).size == 2
