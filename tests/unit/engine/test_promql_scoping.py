"""A template's PromQL is scoped to its project: every vector selector gets the matcher.

These are the lexer's own cases; tests/security/test_promql_isolation.py runs the
hostile queries against a real Prometheus holding two projects' series.
"""
import pytest

from heat_alarming.engine.promql import MAX_QUERY_LENGTH, PromQLError, scope


def scoped(query):
    return scope(query, "project", "p1")


P = 'project="p1"'


@pytest.mark.parametrize("query, expected", [
    ("up", f"up{{{P}}}"),
    ('up{job="x"}', f'up{{job="x", {P}}}'),
    ('up{job="x",}', f'up{{job="x",{P}}}'),
    ("up{}", f"up{{{P}}}"),
    ('up {job="x"}', f'up {{job="x", {P}}}'),
    ('{__name__=~".+"}', f'{{__name__=~".+", {P}}}'),
    ('up{project="other"}', f'up{{project="other", {P}}}'),
    ("up or vector(1)", f"up{{{P}}} or vector(1)"),
    ("rate(x[5m])", f"rate(x{{{P}}}[5m])"),
    ("max_over_time(rate(x[5m])[30m:1m])", f"max_over_time(rate(x{{{P}}}[5m])[30m:1m])"),
    ("x[1h30m:1m]", f"x{{{P}}}[1h30m:1m]"),
    ("sum by (job) (rate(x[5m] offset -1h))", f"sum by (job) (rate(x{{{P}}}[5m] offset -1h))"),
    ("sum(rate(x[5m])) without (instance)",
     f"sum(rate(x{{{P}}}[5m])) without (instance)"),
    ("SUM(up) BY (job)", f"SUM(up{{{P}}}) BY (job)"),
    ("a * on(x) group_left(y) b", f"a{{{P}}} * on(x) group_left(y) b{{{P}}}"),
    ("a / ignoring(x) group_right b", f"a{{{P}}} / ignoring(x) group_right b{{{P}}}"),
    ("a > bool 5", f"a{{{P}}} > bool 5"),
    ("up @ start()", f"up{{{P}}} @ start()"),
    ("up @ 1609746000", f"up{{{P}}} @ 1609746000"),
    ("job:rate:5m", f"job:rate:5m{{{P}}}"),
    ("-up", f"-up{{{P}}}"),
    ("Inf > NaN", "Inf > NaN"),
    ("0x1F + 1e3 + .5", "0x1F + 1e3 + .5"),
    ("time() - timestamp(up)", f"time() - timestamp(up{{{P}}})"),
    ('count_values("v", up)', f'count_values("v", up{{{P}}})'),
    ("topk(3, up)", f"topk(3, up{{{P}}})"),
    ("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
     f"histogram_quantile(0.9, sum by (le) (rate(x_bucket{{{P}}}[5m])))"),
])
def test_every_selector_gets_the_project_matcher(query, expected):
    assert scoped(query) == expected


@pytest.mark.parametrize("query, expected", [
    # strings holding braces, quotes and comment signs are not selectors
    ('label_replace(up, "dst", "{x}", "src", "(.*)")',
     f'label_replace(up{{{P}}}, "dst", "{{x}}", "src", "(.*)")'),
    ("label_replace(up, 'd', '\\'}{', 's', '#')",
     f"label_replace(up{{{P}}}, 'd', '\\'}}{{', 's', '#')"),
    ('up{job="a\\"}b"}', f'up{{job="a\\"}}b", {P}}}'),
    ("up{job=`a}\\`}", f"up{{job=`a}}\\`, {P}}}"),
])
def test_strings_hide_nothing(query, expected):
    assert scoped(query) == expected


def test_comments_are_dropped_and_cannot_swallow_the_matcher():
    assert scoped('up # {project=~".*"}\n + 1') == f"up{{{P}}}  \n + 1"
    # a comment between a metric name and its matchers is blank space, as in Prometheus
    assert scoped("up#}\n{job='x'}") == f"up \n{{job='x', {P}}}"


@pytest.mark.parametrize("query", [
    "sum", "offset", "and", "by", "bool", "start", "rate(or[5m])", "sum(group)",
])
def test_keywords_where_prometheus_takes_a_metric_name_are_scoped_too(query):
    out = scoped(query)
    assert out.count(P) == 1


@pytest.mark.parametrize("query, reason", [
    ("info(up)", "unknown function"),
    ("my_function(up)", "unknown function"),
    ('up{"job"="x"}', "quoted label names"),
    ("up{job=1}", "quoted label value"),
    ('up{job~"x"}', "unexpected character"),
    ("{}", "needs a metric name or a matcher"),
    ("up[5]", "duration"),
    ("up[5m", "expected '\\]'"),
    ("up offset", "offset needs a duration"),
    ("up )", "unbalanced"),
    ("(up", "unclosed"),
    ('up{job="x"}{a="b"}', "expected an operator"),
    ("foo bar", "expected an operator"),
    ('"unterminated', "unterminated string"),
    ('up{job="x\n"}', "unterminated string"),
    ("up\\", "unexpected character"),
    ("\u00fcp", "unexpected character"),
    ("5abc", "bad number"),
    ("sum(x) by", "expected '\\('"),
    ("sum by (rate(x[5m])) (x)", "label list"),
    ("a * on(x) group_left(rate(y[5m])) b", "label list"),
    ("up @ foo", "@ needs"),
    ("", "empty"),
    ("# only a comment", "empty"),
    ("up,", "',' outside a call"),
    ("up +", "expected an expression"),
])
def test_what_cannot_be_scoped_is_refused_with_the_reason(query, reason):
    with pytest.raises(PromQLError, match=reason):
        scoped(query)


def test_a_query_longer_than_the_limit_is_refused():
    with pytest.raises(PromQLError, match=str(MAX_QUERY_LENGTH)):
        scoped("up + " * (MAX_QUERY_LENGTH // 5) + "up")


def test_the_project_value_is_quoted_and_never_empty():
    assert scope("up", "tenant", 'a"b\\c') == 'up{tenant="a\\"b\\\\c"}'
    with pytest.raises(PromQLError, match="empty"):
        scope("up", "project", "")
    with pytest.raises(PromQLError, match="control"):
        scope("up", "project", "a\nb")
    with pytest.raises(PromQLError, match="not a label name"):
        scope("up", "project-id", "p")


@pytest.mark.parametrize("query, reason", [
    # evaluation steps inside the shared Prometheus: 10.8 million of them ran 14 s and
    # 2.2 GiB there after our client's 1 s timeout had given up
    ("max_over_time(vector(1)[3h:1ms])", "evaluation steps"),
    ("max_over_time(max_over_time(up[1h:1s])[1h:1m])", "evaluation steps"),
    ("avg_over_time(up[1h:])", "needs its step"),
    ("max_over_time(vector(1)[30d:1h])", "range of at most"),
    ("rate(up[2d])", "range of at most"),
])
def test_a_query_costing_the_shared_prometheus_too_much_is_refused(query, reason):
    with pytest.raises(PromQLError, match=reason):
        scope(query, "project", "p1")


def test_subqueries_within_the_bounds_are_scoped():
    assert scope("max_over_time(rate(up[5m])[1h:1m])", "project", "p1") == \
        'max_over_time(rate(up{project="p1"}[5m])[1h:1m])'
    assert scope("a[1h:1m] + b[1d:10m]", "project", "p1") == \
        'a{project="p1"}[1h:1m] + b{project="p1"}[1d:10m]'


@pytest.mark.parametrize("query", ["up > ٣", "up + ²", "up[٣m]", "up offset ²m", ".٣"])
def test_digits_of_other_scripts_are_refused_not_a_crash(query):
    with pytest.raises(PromQLError):
        scope(query, "project", "p1")


def test_a_comment_ends_at_a_carriage_return_as_in_prometheus():
    assert scope("up # a comment\r+ 1", "project", "p1") == 'up{project="p1"}  \r+ 1'
