"""The image's contract is written once: the package names it in `contract`, the template
receives it from `render`, and the in-image scripts (which cannot import the package) hold
copies that must agree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from imagegate import contract
from imagegate.scripts import OFFLINE, scripts_dir

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tool" / "imagegate"
TEMPLATE = PACKAGE / "templates" / "Dockerfile.j2"
SCHEMA_WRITERS = ("collect.py", "interpreters.py", "tier3_model.py")
LABEL_NAMES = [name for name in dir(contract) if name.endswith("_LABEL")]
PATHS = (contract.HOME, contract.INSTALLER_MOUNT, contract.VENV)


def _assigned(path: Path, name: str) -> object:
    """The literal assigned to `name` at the top of a module, read without running it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} assigns no {name}")


def _strings(path: Path) -> list[tuple[int, str]]:
    """Each string literal in a module that is not a docstring, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    docstrings |= {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }  # attribute docstrings: a bare string after an assignment
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("script", SCHEMA_WRITERS)
def test_in_image_scripts_write_the_contracts_schema(script: str) -> None:
    assert _assigned(scripts_dir() / script, "SCHEMA") == contract.SCHEMA


def test_tier3_keeps_the_hub_offline_as_the_package_asks() -> None:
    """tier3_model.py sets the offline switches itself, so a run without the package's
    environment (by hand, in a pod) is offline too: the same switches, the same values."""
    tree = ast.parse((scripts_dir() / contract.TIER3).read_text(encoding="utf-8"))
    set_here = {
        node.targets[0].slice.value: ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Subscript)
        and ast.unparse(node.targets[0].value) == "os.environ"
        and isinstance(node.targets[0].slice, ast.Constant)
    }
    hub = {key: value for key, value in OFFLINE.items() if key.endswith("_OFFLINE")}
    assert hub and set_here == hub


def test_the_scripts_the_contract_names_are_shipped() -> None:
    shipped = {path.name for path in scripts_dir().glob("*.py")}
    assert {contract.ENTRY, contract.TIER3, contract.INTERPRETERS} <= shipped


def test_labels_live_in_one_namespace() -> None:
    values = [getattr(contract, name) for name in LABEL_NAMES]
    assert values and len(values) == len(set(values))
    assert all(value.startswith(f"{contract.LABELS}.") for value in values)


def test_the_template_spells_no_name_of_the_contract() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    spelled = [value for value in (contract.LABELS, *PATHS) if value in text]
    assert spelled == [], "the template takes these from render, which takes them from contract"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_no_module_but_the_contract_spells_its_names(path: Path) -> None:
    if path.name == "contract.py":
        pytest.skip("the one place they are written")
    spelled = [
        (line, text)
        for line, text in _strings(path)
        if any(value in text for value in (f"{contract.LABELS}.", *PATHS))
    ]
    assert spelled == [], f"{path.name}: import these names from imagegate.contract"


def test_the_checks_above_see_a_spelled_name(tmp_path: Path) -> None:
    """The control: a module that spells a label in code is caught, one in a docstring is not."""
    module = tmp_path / "spells.py"
    module.write_text(
        '"""Reads org.imagegate.lock."""\n\nLABEL = "org.imagegate.lock"\n', encoding="utf-8"
    )
    assert _strings(module) == [(3, "org.imagegate.lock")]


def test_a_rendered_dockerfile_carries_the_contract() -> None:
    text = (ROOT / "dockerfiles" / "cpu.Dockerfile").read_text(encoding="utf-8")
    for value in (
        contract.PYTHON_LABEL,
        contract.PROFILE_LABEL,
        contract.LOCK_LABEL,
        f"VIRTUAL_ENV={contract.VENV}",
        contract.IN_IMAGE_DIR,
        contract.BUILD_FACTS,
        contract.INSTALLER_MOUNT,
    ):
        assert value in text
