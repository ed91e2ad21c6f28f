"""Security, through a template: an alarm's webhook may not point into the cloud.

``OS::Metering::Alarm`` in the in-process heat-engine with actions aimed at the
metadata service, a private address or heat-engine's own host: the stack fails
validation naming the property, under the default destination policy.
"""
import pytest

ALARM = """
heat_template_version: 2016-10-14
resources:
  alarm:
    type: OS::Metering::Alarm
    properties:
      meter_name: cpu_util
      threshold: 50
      comparison_operator: gt
      period: 60
      evaluation_periods: 1
      alarm_actions: ["{action}"]
"""


@pytest.mark.parametrize("action,refusal", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is in 169.254.0.0/16, a "
                                                 "denied network"),
    ("http://10.0.0.7:8080/hook", "10.0.0.7 is a private or reserved address"),
    ("http://[::1]:9000/hook", "::1 is a loopback address"),
    ("http://2130706433/hook", "not a canonical IP address"),
    ("trust+http://0123456789abcdef@127.0.0.1/hook", "127.0.0.1 is a loopback address"),
])
def test_a_webhook_to_an_internal_address_fails_template_validation(heat_engine, action,
                                                                    refusal):
    engine = heat_engine
    with pytest.raises(Exception) as caught:
        engine.create("ssrf", ALARM.format(action=action))
    text = str(caught.value)
    assert "alarm_actions" in text and refusal in text
    assert "0123456789abcdef" not in text, "a trust id is never shown"
