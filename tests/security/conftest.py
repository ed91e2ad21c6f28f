"""Security tests run on SQLite and PostgreSQL where the alarm database matters."""
import pytest

from tests.support.alarm_worlds import AlarmWorld, alarm_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def alarm_url(request, tmp_path):
    return alarm_database_url(request.param, tmp_path, request)


@pytest.fixture
def world(alarm_url):
    world = AlarmWorld(alarm_url)
    yield world
    world.close()
