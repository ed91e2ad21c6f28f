"""The example templates ship inside the package and are found from any directory."""
import os
import pathlib

import pytest

from heat_alarming import shipped

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_templates_are_package_data_and_the_source_tree_links_to_them():
    directory = shipped.template_dir()
    assert pathlib.Path(directory).parent == pathlib.Path(shipped.__file__).parent
    assert os.path.samefile(ROOT / "templates", directory)
    assert "hot-autoscaling.yaml" in shipped.template_names()
    assert "environments" not in shipped.template_names()  # files only


def test_a_template_is_found_by_name_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = shipped.template_path("hot-autoscaling.yaml")
    assert os.path.isabs(path) and "OS::Metering::Alarm" in pathlib.Path(path).read_text()
    environment = shipped.template_path(os.path.join("environments", "aodh-gnocchi.yaml"))
    assert "resource_registry" in pathlib.Path(environment).read_text()


def test_an_unknown_template_names_itself_and_where_it_was_looked_for():
    with pytest.raises(FileNotFoundError, match=r"no template 'nope.yaml' in .*templates"):
        shipped.template_path("nope.yaml")
    with pytest.raises(FileNotFoundError):
        shipped.template_path("environments")  # a directory is no template
