"""arithmetic: expressions over the meters of a resource, and the safety of the parser."""
import numpy as np
import pytest

from heat_alarming.metering.pipeline.base import TRANSFORMERS, PipelineError, load
from heat_alarming.metering.pipeline.transformers import Arithmetic
from tests.support.transformer_batches import T0, batch, copy_of, rows, series, unchanged, values

MEM = "100 * $(memory.usage) / $(memory)"


def arithmetic(expression=MEM, **parameters):
    return Arithmetic({"expression": expression,
                       "target": {"name": "mem_pct", "unit": "%"}, **parameters})


def gauge(name, resource="vm1", **kw):
    return series(name, resource, unit="MB", type="gauge", **kw)


S = (gauge("memory"), gauge("memory.usage"))


def test_the_expression_over_the_newest_values_of_a_resource():
    out = arithmetic().transform(batch(S, [(0, 2048, T0), (1, 512, T0 + 3)]), T0 + 3)
    # 100 * 512 / 2048 = 25, at the newest value's time
    assert rows(out, "mem_pct") == [("mem_pct", "vm1", "%", "gauge", 25.0, T0 + 3)]
    assert len(rows(out)) == 3  # the inputs are passed on


def test_resources_are_evaluated_apart():
    s = S + (gauge("memory", "b"), gauge("memory.usage", "b"), gauge("memory.usage", "c"))
    out = arithmetic().transform(batch(s, [(0, 2048, T0), (1, 1024, T0), (2, 1000, T0),
                                           (3, 100, T0), (4, 5, T0)]), T0)
    assert values(out, "mem_pct") == [("b", 10.0, 0.0), ("vm1", 50.0, 0.0)]  # c lacks memory


def test_values_are_remembered_across_batches_and_the_newest_is_used():
    t = arithmetic()
    assert values(t.transform(batch(S[:1], [(0, 1000, T0)]), T0), "mem_pct") == []
    out = t.transform(batch(S[1:], [(0, 200, T0 + 10), (0, 100, T0 + 5)]), T0 + 10)
    assert values(out, "mem_pct") == [("vm1", 20.0, 10.0)]  # 200 is the newer usage


def test_a_value_older_than_max_age_before_the_newest_is_not_used():
    t = arithmetic(max_age=600)
    t.transform(batch(S[:1], [(0, 1000, T0)]), T0)
    out = t.transform(batch(S[1:], [(0, 100, T0 + 1000)]), T0 + 1000)
    assert values(out, "mem_pct") == []


def test_division_by_zero_nan_and_overflow_give_no_sample():
    t = arithmetic()
    s = S + (gauge("memory", "b"), gauge("memory.usage", "b"))
    out = t.transform(batch(s, [(0, 0, T0), (1, 5, T0), (2, np.nan, T0), (3, 1, T0)]), T0)
    assert values(out, "mem_pct") == []
    big = arithmetic("$(memory) * 10 ** 10 ** 10")
    assert values(big.transform(batch(S, [(0, 1, T0)]), T0), "mem_pct") == []


@pytest.mark.parametrize("expression, expected", [
    ("max($(a), $(b)) - min($(a), $(b))", 4.0),
    ("abs(-$(a))", 3.0),
    ("2 ** $(a)", 8.0),
    ("-$(a) + +$(b)", 4.0),
    ("($(a) + $(b)) / 2", 5.0),
    ("max($(a), $(b), 10)", 10.0),
    ("$( a ) * 1.5e0", 4.5),
])
def test_the_operators_allowed(expression, expected):
    t = Arithmetic({"expression": expression, "target": {"name": "x"}})
    s = (series("a", type="gauge"), series("b", type="gauge"))
    out = t.transform(batch(s, [(0, 3, T0), (1, 7, T0)]), T0)
    assert values(out, "x") == [("vm1", expected, 0.0)]


@pytest.mark.parametrize("expression, part", [
    ("__import__('os').system('true')", "__import__"),
    ("$(a).real", "$(a).real"),
    ("$(a) if $(a) else 1", "if"),
    ("(lambda: 1)() + $(a)", "lambda"),
    ("'text' + $(a)", "'text'"),
    ("a + $(a)", "a"),
    ("$(a) // 2", "$(a) // 2"),
    ("$(a) % 2", "$(a) % 2"),
    ("$(a) < 2", "<"),
    ("[$(a)][0]", "[$(a)]"),
    ("min($(a))", "min($(a))"),
    ("abs($(a), 1)", "abs"),
    ("max(*[$(a)])", "max"),
    ("round($(a))", "round"),
    ("$(a) and 1", "and"),
    ("not $(a)", "not"),
    ("True * $(a)", "True"),
    ("1j * $(a)", "1j"),
    ("1e400 * $(a)", "number too large"),
    ("$(a) + $b", "$b"),
    ("_ref0_ + $(a)", "_ref0_"),
    ("2 + 2", "no meter"),
    ("$(a) +", "not an expression"),
    ("", "non-empty"),
])
def test_anything_else_is_refused_naming_the_bad_part(expression, part):
    with pytest.raises(PipelineError) as err:
        Arithmetic({"expression": expression, "target": {"name": "x"}})
    assert err.value.field == "expression"
    assert part.lower() in err.value.reason.lower() or part in str(err.value)


@pytest.mark.parametrize("expression", [
    "1 + " * 10_000 + "$(a)",                   # too long
    "(" * 300 + "$(a)" + ")" * 300,             # nested deeply
    " + ".join(["$(a)"] * 150),                 # too many terms
    " + ".join(f"$(m{i})" for i in range(40)),  # too many meters
    "-" * 900 + "$(a)",
])
def test_huge_expressions_are_refused(expression):
    with pytest.raises(PipelineError) as err:
        Arithmetic({"expression": expression, "target": {"name": "x"}})
    assert err.value.field == "expression"


def test_an_expression_that_is_not_text_is_refused():
    with pytest.raises(PipelineError) as err:
        Arithmetic({"expression": 42, "target": {"name": "x"}})
    assert err.value.field == "expression"


def test_the_input_is_unchanged_and_keep_source_false_drops_the_inputs():
    b = batch(S + (series("cpu"),), [(0, 100, T0), (1, 50, T0), (2, 1, T0)], ids=[1, 2, 3])
    before = copy_of(b)
    out = arithmetic(keep_source=False).transform(b, T0)
    assert unchanged(b, before)
    assert [(r[0], r[4]) for r in rows(out)] == [("cpu", 1.0), ("mem_pct", 50.0)]
    other = batch((series("cpu"),), [(0, 1, T0)])
    assert arithmetic().transform(other, T0) is other


def test_the_result_has_the_attributes_of_the_resource():
    s = (gauge("memory", metadata={"flavor": "m1"}, project_id="p9", user_id="u9"),
         gauge("memory.usage", metadata={"flavor": "m1"}, project_id="p9", user_id="u9"))
    out = arithmetic().transform(batch(s, [(0, 100, T0), (1, 10, T0)]), T0)
    d = next(out.series[c] for c in out.codes if out.series[c].name == "mem_pct")
    assert (d.resource_id, d.project_id, d.user_id, d.metadata) == ("vm1", "p9", "u9",
                                                                    {"flavor": "m1"})


@pytest.mark.parametrize("parameters, field", [
    ({"target": {"name": "x"}}, "expression"),
    ({"expression": MEM}, "target.name"),
    ({"expression": MEM, "target": {"name": "x", "unit": 1}}, "target.unit"),
    ({"expression": MEM, "target": {"name": "x"}, "max_age": "1"}, "max_age"),
    ({"expression": MEM, "target": {"name": "x"}, "window": 1}, "window"),
])
def test_bad_parameters_name_the_parameter(parameters, field):
    with pytest.raises(PipelineError) as err:
        Arithmetic(parameters)
    assert err.value.field == field


def test_the_entry_point_loads_it():
    t = load(TRANSFORMERS, "arithmetic", {"expression": MEM, "target": {"name": "x"}})
    assert isinstance(t, Arithmetic)
