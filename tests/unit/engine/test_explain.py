"""An alarm explains its latest round: what the query matched, what each period held,
what was refused, the rule, the verdict and the last action, with a sentence first."""
import json

import pytest

from heat_alarming.engine.alarm import NOT_EVALUATED
from heat_alarming.engine.alarm_store import HistoryEntry
from heat_alarming.engine.evaluator import FIRST_REASONS, Evaluator, Limits
from heat_alarming.metering import ManualClock, RollingStore

T0 = 1_800_000_000.0
TAG = "metadata.user_metadata.server_group"


@pytest.fixture
def world():
    clock = ManualClock(T0)
    store = RollingStore(resolution=10, retention=3600, clock=clock)
    return clock, store, Evaluator(store, clock=clock)


def alarm(evaluator, alarm_id="a1", group="web", **extra):
    rule = {"meter_name": "cpu_util", "threshold": 50, "comparison_operator": "gt",
            "period": 60, "evaluation_periods": 2, "matching_metadata": {TAG: group}}
    rule.update(extra.pop("rule", {}))
    return evaluator.define(dict({"alarm_id": alarm_id, "name": alarm_id, "project_id": "p1",
                                  "type": "threshold", "threshold_rule": rule}, **extra))


def push(store, clock, seconds, value=80.0, group="web", members=3, meta=None):
    """Every member reports ``value`` every 10 s for ``seconds``."""
    for _ in range(int(seconds // 10)):
        store.ingest([{"name": "cpu_util", "volume": value, "resource_id": f"vm-{i}",
                       "project_id": "p1", "timestamp": clock(),
                       "resource_metadata": meta or {"user_metadata": {"server_group": group}}}
                      for i in range(members)])
        clock.advance(10)


def test_the_explanation_is_json_with_the_sentence_first(world):
    clock, store, evaluator = world
    alarm(evaluator)
    push(store, clock, 200)
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert list(explanation)[0] == "summary"
    assert json.loads(json.dumps(explanation)) == explanation
    assert explanation["state"] == "alarm" and explanation["evaluated_at"] == clock()
    assert explanation["summary"].startswith("alarm: 2 of 2 periods had avg cpu_util > 50")
    assert explanation["series"] == {"count": 3, "ids": ["vm-0", "vm-1", "vm-2"]}
    assert explanation["query"]["conditions"] == [f"{TAG} = web"]
    judged = [p for p in explanation["periods"] if p["judged"]]
    assert len(judged) == 2 and all(p["breach"] and p["value"] == 80.0 for p in judged)


def test_a_value_that_differs_names_the_nearest_series(world):
    clock, store, evaluator = world
    alarm(evaluator, group="web")
    push(store, clock, 200, group="web-1")
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert explanation["summary"] == (
        "insufficient data: the query matched 0 series; 3 series of cpu_util in this "
        f"project carry {TAG}=web-1, the alarm asks for web")
    assert explanation["series"]["nearest"][0]["differs"] == [
        {"field": TAG, "op": "eq", "wants": "web", "has": "web-1"}]


def test_a_key_spelt_another_way_is_named_with_its_value(world):
    clock, store, evaluator = world
    alarm(evaluator, rule={"matching_metadata": {"metering.server-group": "web"}})
    push(store, clock, 200)
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    differs = explanation["series"]["nearest"][0]["differs"][0]
    assert differs["has"] is None
    assert differs["similar_keys"] == {"user_metadata.server_group": "web"}
    assert "carry metadata.user_metadata.server_group=web" in explanation["summary"]


def test_a_project_without_the_meter_says_so(world):
    clock, store, evaluator = world
    alarm(evaluator)
    clock.advance(200)
    evaluator.evaluate()
    assert evaluator.explain("a1")["summary"] == (
        "insufficient data: the query matched 0 series; the project has no series of "
        "cpu_util")


def test_empty_periods_are_counted(world):
    clock, store, evaluator = world
    alarm(evaluator)
    push(store, clock, 60)
    clock.advance(120)
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert explanation["verdict"]["verdict"] == "insufficient data"
    assert [p["empty"] for p in explanation["periods"]] == [False, True, True]
    assert explanation["summary"] == (
        "insufficient data: 1 of the 2 periods needed had data (3 series matched); 2 of "
        "the 3 periods read were empty")


def test_samples_that_arrive_after_the_round_mark_their_period_late(world):
    clock, store, evaluator = world
    alarm(evaluator)
    push(store, clock, 180)
    evaluator.evaluate()
    store.ingest([{"name": "cpu_util", "volume": 90.0, "resource_id": "vm-0",
                   "project_id": "p1", "timestamp": clock() - 30,
                   "resource_metadata": {"user_metadata": {"server_group": "web"}}}])
    periods = evaluator.explain("a1")["periods"]
    assert [p["late"] for p in periods] == [False, False, True]
    assert periods[-1]["samples_now"] == periods[-1]["samples"] + 1


def test_refused_samples_of_the_meter_are_listed(world):
    clock, store, evaluator = world
    alarm(evaluator)
    push(store, clock, 200)
    store.ingest([{"name": "cpu_util", "volume": "high", "resource_id": "vm-0",
                   "project_id": "p1", "timestamp": clock()}])
    store.ingest([{"name": "cpu_util", "volume": 1.0, "resource_id": "vm-0",
                   "project_id": "other", "timestamp": clock() - 7200}])
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert [(r["field"], r["rows"]) for r in explanation["rejected"]] == [("volume", 1)]
    assert "1 sample of cpu_util was refused recently (sample field 'volume'" \
        in explanation["summary"]


def test_a_waiting_transition_is_shown_with_when_it_is_taken(world):
    clock, store, evaluator = world
    alarm(evaluator, stabilization_window=120)
    push(store, clock, 200)
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert explanation["pending"] == {"state": "alarm", "since": clock(),
                                      "until": clock() + 120}
    assert "alarm pending in the stabilization window" in explanation["summary"]


def test_a_disabled_alarm_says_it_is_not_evaluated(world):
    clock, store, evaluator = world
    alarm(evaluator, enabled=False)
    push(store, clock, 200)
    evaluator.evaluate()
    assert evaluator.explain("a1")["summary"] == (
        "insufficient data (not evaluated: the alarm is disabled)")


def test_a_shut_time_constraint_is_shown(world):
    clock, store, evaluator = world
    # 1 minute a day at 03:00 UTC; T0 + 200 s is 11:36 UTC
    alarm(evaluator, time_constraints=[{"name": "night", "start": "0 3 * * *",
                                        "duration": 60}])
    push(store, clock, 200)
    evaluator.evaluate()
    explanation = evaluator.explain("a1")
    assert explanation["rule"]["time_constraints"][0]["open"] is False
    assert explanation["summary"].endswith("(not evaluated: outside its time constraints)")


def test_an_alarm_no_round_decided_is_evaluated_for_the_explanation_alone(world):
    clock, store, evaluator = world
    push(store, clock, 200)
    alarm(evaluator)
    explanation = evaluator.explain("a1")
    assert explanation["evaluated_at"] is None
    assert explanation["verdict"]["verdict"] == "alarm"
    assert evaluator.get("a1").state == "insufficient data"  # nothing changed
    assert evaluator.history("a1") == []


def test_the_last_action_and_why_heat_ignored_it(world):
    clock, store, evaluator = world
    alarm(evaluator)
    push(store, clock, 200)
    evaluator.evaluate()
    evaluator.alarm_store.record([HistoryEntry(
        "e1", "a1", "action", clock(), "ok", "alarm",
        "Heat ignored the signal to up of stack s: the group's cooldown runs until ...",
        {"action": "heat://...", "outcome": "ignored", "why": "cooldown"}, "")])
    explanation = evaluator.explain("a1")
    assert explanation["last_action"]["outcome"] == "ignored"
    assert explanation["last_action"]["why"] == "cooldown"
    assert explanation["summary"].endswith("; the last action was ignored by Heat (cooldown)")


def test_a_composite_names_each_leaf_state(world):
    clock, store, evaluator = world
    alarm(evaluator, "leaf")
    evaluator.define({"alarm_id": "c1", "name": "both", "project_id": "p1",
                      "type": "composite", "composite_rule": {"and": [
                          {"alarm_id": "leaf"},
                          {"type": "threshold", "meter_name": "cpu_util", "threshold": 90,
                           "comparison_operator": "gt", "period": 60,
                           "evaluation_periods": 2}]}})
    push(store, clock, 200)
    evaluator.evaluate()
    explanation = evaluator.explain("c1")
    assert [leaf["state"] for leaf in explanation["leaves"]] == ["alarm", "ok"]
    assert explanation["summary"] == "ok: (rule1 and rule2) with rule1 alarm, rule2 ok"
    assert explanation["state"] == "ok"


def test_an_unknown_alarm_is_a_key_error(world):
    with pytest.raises(KeyError):
        world[2].explain("nope")


def test_transitions_and_failed_actions_are_stamped_by_the_one_clock(world):
    """The evaluator's clock stamps the whole history: a transition and the failure of
    its action (delivered by the dispatcher the evaluator made) read the same time."""
    from heat_alarming.engine.notifiers import DeliveryError

    clock, store, evaluator = world

    def refuse(payload):
        raise DeliveryError("the target is gone", retryable=False)

    evaluator.register_target("gone", refuse)
    alarm(evaluator, alarm_actions=["inproc://gone"])
    push(store, clock, 200)
    evaluator.evaluate()
    evaluator.dispatcher.deliver_due()
    failed, transition = evaluator.history("a1")
    assert (failed.type, transition.type) == ("action failed", "state transition")
    assert failed.timestamp == transition.timestamp == clock()
    assert evaluator.explain("a1")["last_action"]["outcome"] == "failed"


def test_a_rule_is_explained_on_its_own_look_back_in_a_group_of_longer_rules(world):
    clock, store, evaluator = world
    alarm(evaluator, "short")
    alarm(evaluator, "long", rule={"evaluation_periods": 5})
    push(store, clock, 400)
    evaluator.evaluate()
    assert len(evaluator.explain("short")["periods"]) == 3  # N + 1
    assert len(evaluator.explain("long")["periods"]) == 6
    assert evaluator.explain("short")["verdict"] == evaluator.explain("long")["verdict"] | {
        "datapoints": 2, "breaching": 2}


def test_an_alarm_its_first_round_leaves_in_insufficient_data_says_why(world):
    clock, store, evaluator = world
    alarm(evaluator, group="web", alarm_actions=["log://"],
          insufficient_data_actions=["log://"])
    assert evaluator.get("a1").state_reason == "Not evaluated yet"
    push(store, clock, 200, group="web-1")
    evaluator.evaluate()
    stored = evaluator.alarm_store.load_alarm("a1")
    said = evaluator.explain("a1")["summary"]
    assert stored.state == "insufficient data"
    assert stored.state_reason.startswith(said + ". ")
    assert "matched 0 series" in stored.state_reason
    # the state stayed: nothing is recorded and nothing is sent
    assert evaluator.history("a1") == []
    assert evaluator.alarm_store.due_notifications(clock() + 3600) == []


def test_a_round_gives_at_most_first_reasons_alarms_their_first_reason_the_next_the_rest():
    # each first reason looks for the nearest series: thousands of new alarms would
    # make one round take minutes, so they get theirs over the next rounds
    clock = ManualClock(T0)
    store = RollingStore(resolution=10, retention=3600, clock=clock)
    many = FIRST_REASONS + 5
    evaluator = Evaluator(store, clock=clock, limits=Limits(alarms_per_project=many))
    evaluator.define_many({"alarm_id": f"a{i}", "name": f"a{i}", "project_id": "p1",
                           "threshold_rule": {"meter_name": "cpu_util", "threshold": 50,
                                              "query": [{"field": "resource_id", "op": "eq",
                                                         "value": f"vm-{i}"}]}}
                          for i in range(many))
    clock.advance(600)

    def waiting():
        return sum(a.state_reason == NOT_EVALUATED for a in evaluator.alarms())

    evaluator.evaluate()
    assert waiting() == many - FIRST_REASONS
    evaluator.evaluate()
    assert waiting() == 0
    assert {a.state for a in evaluator.alarms()} == {"insufficient data"}
    assert "matched 0 series" in evaluator.get(f"a{many - 1}").state_reason
