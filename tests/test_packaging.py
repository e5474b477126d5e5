"""environment.yml (conda) and pyproject.toml (pip) describe the same dependencies."""

import re
import tomllib

import yaml


def test_environment_yml_matches_pyproject(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"])
    for requirement in extras["dev"]:  # "hub[dask,redis]": those extras' packages
        if requirement.startswith("hub["):
            for extra in requirement[4:-1].split(","):
                wanted |= set(extras[extra])
        else:
            wanted.add(requirement)
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    listed = {p for p in pip if not p.startswith(("-e", "torch"))}
    assert listed == wanted
    assert "torch==2.13.0" in pip  # pinned, like the Makefile's first install


def test_makefile_installs_pinned_torch_before_the_project(repo):
    makefile = (repo / "Makefile").read_text()
    torch_at = makefile.index("$(PIP) install --quiet $(TORCH)")
    project_at = makefile.index("$(PIP) install --quiet -e '.[dev]'")
    assert torch_at < project_at
    assert re.search(r"^TORCH := torch==2\.13\.0$", makefile, re.M)


def test_readme_starts_with_the_two_commands(repo):
    commands = re.findall(r"^\s*(make \w+)\s*$", (repo / "README.md").read_text(), re.M)
    assert commands[:2] == ["make demo", "make test"]


def test_notebooks_have_parameters_and_no_outputs(repo):
    import json

    for path in (repo / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in cells), path
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), path
