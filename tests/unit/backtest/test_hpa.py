"""The Kubernetes HPA v2 model, on loads whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from heat_alarming.backtest import hpa
from heat_alarming.backtest.group import GroupSpec as Group
from heat_alarming.backtest.report import parse_slo, summarize

MINUTE = 60.0




def step_load(low: float = 30.0, high: float = 250.0) -> tuple[np.ndarray, np.ndarray]:
    """3 hours at one minute: ``low``, ``high`` from 1 h, ``low`` again from 2 h."""
    times = np.arange(180) * MINUTE
    demand = np.where((times >= 3600) & (times < 7200), high, low)
    return times, demand


def test_the_recommendation_is_ceil_of_ready_pods_times_utilisation_over_target():
    # 4 ready pods carrying 250: floor(250 / 4) = 62 %, 62 / 50 = 1.24, ceil(4.96) = 5
    assert hpa.recommend(4, 0, 250.0, 50.0, 0.1) == 5
    # 5 pods at 6 %: ratio 0.12, ceil(0.6) = 1
    assert hpa.recommend(5, 0, 30.0, 50.0, 0.1) == 1


def test_a_ratio_within_the_tolerance_changes_nothing():
    assert hpa.recommend(1, 0, 54.0, 50.0, 0.1) == 1  # 1.08: within 10 %
    assert hpa.recommend(1, 0, 56.0, 50.0, 0.1) == 2  # 1.12: ceil(1.12)
    assert hpa.recommend(3, 0, 3 * 45.0, 50.0, 0.1) == 3  # 0.90: within
    assert hpa.recommend(3, 0, 3 * 44.0, 50.0, 0.1) == 3  # 0.88: ceil(2.64) = 3 anyway
    assert hpa.recommend(4, 0, 4 * 44.0, 50.0, 0.1) == 4  # 0.88: ceil(3.52) = 4


def test_starting_pods_count_as_idle_when_the_ratio_says_up():
    # 1 ready pod at 100 %, 1 starting: over both pods 50 % -> ratio 1.0, no change
    assert hpa.recommend(1, 1, 100.0, 50.0, 0.1) == 2
    # 2 ready at 100 %, 1 starting: floor(200 / 3) = 66 -> 1.32, ceil(3.96) = 4
    assert hpa.recommend(2, 1, 200.0, 50.0, 0.1) == 4
    # with no ready pod there is no metric: the count stays
    assert hpa.recommend(0, 3, 0.0, 50.0, 0.1) == 3


def test_a_step_load_is_followed_up_at_once_and_down_300_seconds_later():
    times, demand = step_load()
    line = hpa.simulate(times, demand, Group(1, 10, 1), target=50.0, metrics_delay=0.0)
    # (the demand of the very instant: the algorithm alone)
    # up: 1 -> 2 at 3600 s (100 %: ratio 2), 2 -> 4 at 3615, 4 -> 5 at 3630 (62 %)
    # down: at 7200 s the recommendation is 1, but the highest of the recommendations
    # made after now - 300 s is 5 until the sync at 7500 s
    expected = [1] * 60 + [2] + [5] * 64 + [1] * 55
    assert line.sizes.tolist() == expected
    assert line.scale_actions == 4
    assert line.flaps == 0
    summary = summarize(line, parse_slo("cpu_util<80"))
    # only minute 60 breaks it: 250 over 2 pods saturates both at 100 %
    assert summary["slo_violation_minutes"] == 1.0
    assert summary["instance_hours"] == (60 + 2 + 5 * 64 + 55) / 60


def test_without_stabilisation_the_scale_down_follows_the_next_sync():
    times, demand = step_load()
    quick = hpa.Rules(0.0, hpa.SCALE_DOWN.policies)
    line = hpa.simulate(times, demand, Group(1, 10, 1), target=50.0, scale_down=quick,
                        metrics_delay=0.0)
    assert line.sizes[119] == 5 and line.sizes[120] == 1


def test_new_pods_serve_only_after_the_start_delay():
    times, demand = step_load()
    line = hpa.simulate(times, demand, Group(1, 10, 1, resize_seconds=60.0), target=50.0,
                        metrics_delay=0.0)
    # 3600: 1 -> 2 (serving at 3660); 3615..3645: the starting pod counts as 0 %, over
    # both pods 50 % -> no change; 3660: 2 ready at 100 % -> 4 (serving at 3720);
    # 3720: 4 ready at 62 % -> 5 (serving at 3780)
    assert line.sizes[59:65].tolist() == [1, 1, 2, 4, 5, 5]
    assert line.scale_actions == 4
    # minutes 60, 61 and 62 run saturated (100 %, 100 %, 62.5 % is below 80)
    assert summarize(line, parse_slo("cpu_util<80"))["slo_violation_minutes"] == 2.0


def test_the_controller_reads_the_usage_metrics_server_saw_15_seconds_before():
    times, demand = step_load()
    line = hpa.simulate(times, demand, Group(1, 10, 1), target=50.0)
    # the sync at 3600 s still reads 30 %; 3615: 1 -> 2, 3630: 2 -> 4, 3645: 4 -> 5; the
    # drop is read at 7215, and the 5 recommended at 7200 leaves the window after 7500
    assert line.sizes.tolist() == [1] * 61 + [5] * 64 + [1] * 55
    # minute 60 runs on one pod: 250 % saturates it
    assert summarize(line, parse_slo("cpu_util<80"))["slo_violation_minutes"] == 1.0


def test_a_scale_up_is_bounded_by_four_pods_or_doubling_per_15_seconds():
    times = np.arange(4) * 15.0
    demand = np.full(4, 2000.0)
    line = hpa.simulate(times, demand, Group(1, 20, 1), target=20.0, metrics_delay=0.0)
    # ratio 100 / 20 = 5 each sync: 1 -> max(1 + 4, 2) = 5 -> max(9, 10) = 10 -> 20 (max)
    assert line.sizes.tolist() == [5, 10, 20, 20]
    assert line.scale_actions == 3


def test_the_replica_bounds_hold_both_ways():
    times = np.arange(30) * MINUTE
    idle = hpa.simulate(times, np.zeros(30), Group(2, 6, 4), target=50.0, metrics_delay=0.0)
    # the first sync recommends 0; no earlier recommendation holds it up, min_size does
    assert idle.sizes.tolist() == [2] * 30
    busy = hpa.simulate(times, np.full(30, 1000.0), Group(1, 3, 1), target=50.0)
    assert busy.sizes.max() == 3


def test_before_metrics_server_has_seen_the_trace_the_size_stays():
    times = np.arange(4) * 15.0
    line = hpa.simulate(times, np.full(4, 2000.0), Group(1, 20, 1), target=20.0)
    # the sync at 0 s has no usage to read (the first row is seen from 15 s on)
    assert line.sizes.tolist() == [1, 5, 10, 20]


def test_a_steady_load_within_the_tolerance_never_scales():
    times = np.arange(60) * MINUTE
    line = hpa.simulate(times, np.full(60, 54.0), Group(1, 10, 1), target=50.0)
    assert line.sizes.tolist() == [1] * 60 and line.scale_actions == 0


def test_bad_parameters_name_the_field():
    with pytest.raises(hpa.HpaError, match="hpa.target"):
        hpa.Hpa(1, 4, target=0.0)
    with pytest.raises(hpa.HpaError, match="hpa.min_replicas"):
        hpa.Hpa(5, 4, target=50.0)
    with pytest.raises(hpa.HpaError, match="trace: 2 times and 1 demand"):
        hpa.run(hpa.Hpa(1, 4, 50.0), np.array([0.0, 60.0]), np.array([1.0]), 1)
    with pytest.raises(hpa.HpaError, match="trace.step: a one-row trace needs its step"):
        hpa.run(hpa.Hpa(1, 4, 50.0), np.array([0.0]), np.array([1.0]), 1)


def test_the_group_spec_of_a_template_gives_the_bounds_and_the_start_delay():
    from heat_alarming.backtest import group as group_mod
    spec = group_mod.GroupSpec(min_size=1, max_size=4, desired_capacity=2, resize_seconds=90.0)
    model = hpa.Hpa.for_group(spec, target=50.0)
    assert (model.min_replicas, model.max_replicas, model.pod_start_seconds) == (1, 4, 90.0)
    line = hpa.simulate(np.arange(3) * MINUTE, np.full(3, 100.0), spec, target=50.0)
    assert line.sizes.tolist() == [2, 2, 2]  # 50 % each on 2 pods: on target
