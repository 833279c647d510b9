"""Repository contracts: conda file agrees with pyproject, notebooks are committed clean and
follow the section layout, the README names the two commands, torch is pinned for setup."""
import json
import re

import pytest
import tomllib
import yaml

import common.notebook.run_notebooks as run_notebooks
from common.notebook.execute import REPO_ROOT
from common.notebook.run_notebooks import NOTEBOOKS, DemoNotebook

NOTEBOOK_FILES = sorted(p for p in REPO_ROOT.glob("hw*/*.ipynb"))
HOMEWORK_SECTIONS = ["Setup", "Data", "Model", "Training", "Evaluation", "Submission"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str))
    assert any(str(d).startswith("pytorch") for d in env["dependencies"] if isinstance(d, str))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    conda_pip = {_name(r) for r in pip if r != "-e ."}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]} - {"torch"}
    for extra in ("notebooks", "dev"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    assert conda_pip == wanted, \
        f"only in environment.yml: {conda_pip - wanted}; only in pyproject: {wanted - conda_pip}"


def test_setup_pins_torch_and_readme_has_the_two_commands():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_clean_and_parameterised(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        f"{path.name} carries outputs: strip them before committing"
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), \
        f"{path.name}: first code cell must be tagged 'parameters'"
    params = "".join(code[0]["source"])
    assert "OUTPUT_DIR" in params
    assert "REPO_URL" in params, f"{path.name}: Colab/Kaggle users need REPO_URL to install the repository"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_papermill_reads_every_parameter(path):
    """Every name the parameters cell assigns is one papermill can parse (no "Unable to parse line",
    no "Passed unknown parameter" when make demo or a user overrides it): one name per line."""
    import ast

    import papermill as pm
    nb = json.loads(path.read_text())
    source = "".join(nb["cells"][[c["cell_type"] for c in nb["cells"]].index("code")]["source"])
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    assigned = {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    tuples = [ast.unparse(t) for node in ast.parse(source).body if isinstance(node, ast.Assign)
              for t in node.targets if not isinstance(t, ast.Name)]
    assert not tuples, f"{path.name}: assign one parameter per line (papermill cannot parse {tuples})"
    assert set(pm.inspect_notebook(str(path))) == assigned


@pytest.mark.parametrize("path", [p for p in NOTEBOOK_FILES if re.match(r"hw\dp2", p.stem)], ids=lambda p: p.name)
def test_homework_notebook_sections_in_order(path):
    nb = json.loads(path.read_text())
    headings = [line[3:].strip() for c in nb["cells"] if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    found = [h for h in headings if h.split()[0] in HOMEWORK_SECTIONS]
    assert [h.split()[0] for h in found] == HOMEWORK_SECTIONS, f"{path.name} sections: {headings}"
    source = "".join("".join(c["source"]) for c in nb["cells"])
    assert "count_parameters" in source, "every model prints its parameter count"
    assert re.search(r"count_parameters\([^)]*limit=", source), \
        f"{path.name}: pass the course limit to count_parameters(model, limit=...), which raises over it"
    assert not re.search(r"if n_params >", source), f"{path.name}: count_parameters checks the limit itself"
    for key in ("DATA_ROOT", "DEMO", "DEMO_SIZE", "RESUME", "REPO_URL"):
        assert key in "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def test_every_registered_demo_notebook_exists():
    missing = [nb.path for nb in NOTEBOOKS if not (REPO_ROOT / nb.path).exists()]
    assert not missing, f"make demo lists notebooks that do not exist: {missing}"


@pytest.mark.parametrize("entry", NOTEBOOKS, ids=lambda nb: nb.name)
def test_demo_headline_metrics_are_saved_by_the_notebook(entry):
    """make demo prints these keys: each must be written by the notebook's save_metrics."""
    nb = json.loads((REPO_ROOT / entry.path).read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "save_metrics(" in source or "finish(OUTPUT_DIR, metrics" in source   # finish() calls save_metrics
    # keys built in an f-string (f"dev_ppl_{name}") count by their literal prefix
    prefixes = re.findall(r"f[\"']([A-Za-z_]+)\{", source)
    missing = [key for key in entry.headline
               if key not in source and not any(key.startswith(p) for p in prefixes)]
    assert not missing, f"{entry.path} never saves {missing}"


def _default_output_dir(path) -> str:
    """The notebook's default OUTPUT_DIR relative to its folder: a literal path, or (OUTPUT_DIR = None) the
    runs/<output> that its setup(globals(), "<notebook>", "<output>") call resolves to in a checkout."""
    cells = json.loads(path.read_text())["cells"]
    params = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    found = re.search(r"^OUTPUT_DIR\s*=\s*[\"']([^\"']+)[\"']", params, re.M)
    if found:
        return found.group(1)
    assert re.search(r"^OUTPUT_DIR\s*=\s*None", params, re.M), f"{path.name}: no OUTPUT_DIR in the parameters cell"
    source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    setup = re.search(r"setup\(globals\(\), \"[^\"]+\", \"([^\"]+)\"\)", source)
    assert setup, f"{path.name}: OUTPUT_DIR = None but no setup(globals(), name, output) call resolves it"
    return f"../runs/{setup.group(1)}"


@pytest.mark.parametrize("entry", NOTEBOOKS, ids=lambda nb: nb.name)
def test_each_notebook_defaults_to_its_own_output_folder(entry):
    """A Part 1 notebook must not write its metrics.json into its homework's Part 2 folder: the
    default OUTPUT_DIR is the folder make demo uses, and no two notebooks share one."""
    # a notebook run twice by make demo (e.g. HW4P1 on two corpora) defaults to its first entry's folder
    first = next(nb for nb in NOTEBOOKS if nb.path == entry.path)
    assert _default_output_dir(REPO_ROOT / entry.path) == f"../runs/{first.output}"
    assert len({nb.output for nb in NOTEBOOKS}) == len(NOTEBOOKS)
    stem = entry.path.split("/")[-1].removesuffix(".ipynb")
    if not re.fullmatch(r"hw\dp\d", stem):     # Part 1: a subfolder of its own under the homework's folder
        assert entry.output == f"{entry.path.split('/')[0]}/{stem}"


def test_make_demo_fails_when_a_headline_metric_is_missing(monkeypatch, capsys):
    entry = DemoNotebook("fake", NOTEBOOKS[0].path, "fake_demo_output", ("accuracy", "eer"), sized=False)
    monkeypatch.setattr(run_notebooks, "NOTEBOOKS", [entry])
    monkeypatch.setattr(run_notebooks, "run_notebook", lambda *a, **k: {"accuracy": 0.5, "loss": 1.0})
    assert run_notebooks.main(["--only", "fake"]) == 1
    out = capsys.readouterr().out
    assert "!! fake FAILED" in out and "['eer']" in out and "FAILED: fake" in out
    monkeypatch.setattr(run_notebooks, "run_notebook", lambda *a, **k: {"accuracy": 0.5, "eer": 0.25, "loss": 1.0})
    assert run_notebooks.main(["--only", "fake"]) == 0
    assert "accuracy 0.5, eer 0.25" in capsys.readouterr().out      # headline keys only, in their order


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_every_figure_is_saved_with_save_figure(path):
    """One way to write a figure (common.plots.save_figure): no notebook calls savefig itself."""
    source = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert "savefig(" not in source, f"{path.name} writes a figure with savefig: use common.plots.save_figure"
    assert "save_figure(" in source, f"{path.name} saves no figure"


def test_every_data_file_the_package_reads_is_package_data():
    """A pip install from REPO_URL (Colab, Kaggle) ships only .py files unless pyproject lists the rest:
    every tracked non-Python file inside common/ and mytorch/ must be declared package data."""
    import fnmatch
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "common", "mytorch"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    missing = []
    for path in tracked:
        if path.endswith(".py"):
            continue
        folder, name = path.rsplit("/", 1)
        patterns = declared.get(folder.replace("/", "."), [])
        if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            missing.append(path)
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
