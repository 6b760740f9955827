"""The structure of the code, read from the source: every module on a floor of the layers
contract, no app reaching into another's private names, and the apps map in the docs.

Fast and without a database: it parses files, it imports nothing of kefu.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from itertools import dropwhile, takewhile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "kefu"

# Modules that take no floor: the package itself, the settings, and each app's bare
# package (``kefu.accounts`` holds nothing; its modules take the floors).
NOT_ON_A_FLOOR = {
    "kefu",
    "kefu.settings",
    "kefu.accounts",
    "kefu.analytics",
    "kefu.channels",
    "kefu.complaints",
    "kefu.conversations",
    "kefu.customers",
    "kefu.hours",
    "kefu.incidents",
    "kefu.kb",
    "kefu.quality",
    "kefu.replies",
    "kefu.routing",
    "kefu.sla",
    "kefu.tickets",
    "kefu.understanding",
    "kefu.wallboard",
    "kefu.webhooks",
    "kefu.performance",
    "kefu.staffing",
    "kefu.surveys",
    "kefu.proactive",
    "kefu.bot",
    "kefu.training",
}

# Calls that import a module named at run time.
DYNAMIC_IMPORTS = {"import_module", "__import__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def source_files() -> dict[str, Path]:
    """Every module of the package by name; a migrations package stands for its migrations."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if "__pycache__" in parts or ("migrations" in parts[:-1] and path.name != "__init__.py"):
            continue
        files[module_name(path)] = path
    return files


@cache
def all_modules() -> frozenset[str]:
    """Every importable module, migrations included (to tell modules from other names)."""
    return frozenset(module_name(p) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def app_of(module: str) -> str:
    """``kefu.quality.checks`` → ``quality``; a top-level module (``kefu.api``) is its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor_names() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    [floors] = [c for c in config["tool"]["importlinter"]["contracts"] if c.get("id") == "floors"]
    return {
        name.strip().strip("()")
        for layer in floors["layers"]
        for name in re.split(r"[|:]", layer)
        if name.strip()
    }


def on_a_floor(module: str, floors: set[str]) -> bool:
    return any(module == floor or module.startswith(floor + ".") for floor in floors)


def test_every_module_takes_a_floor_of_the_layers_contract():
    floors = floor_names()
    without = sorted(m for m in source_files() if not on_a_floor(m, floors) and m not in NOT_ON_A_FLOOR)
    assert without == [], f"add these to a layer of the 'floors' contract in pyproject.toml: {without}"


def test_the_modules_without_a_floor_are_exactly_the_listed_ones():
    floors = floor_names()
    stale = sorted(m for m in NOT_ON_A_FLOOR if m not in source_files() or on_a_floor(m, floors))
    assert stale == [], f"no longer modules without a floor, drop them from NOT_ON_A_FLOOR: {stale}"


def absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a ``from … import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` → ``["a", "b", "c"]``; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else [*base, node.attr]
    return None


def private_reaches(module: str, path: Path) -> list[str]:
    """Private names of other apps this module imports, or reads off their modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    bound: dict[str, str] = {}  # local name -> kefu module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = absolute(module, path, node)
            if source.split(".")[0] != "kefu":
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if app_of(source) != app_of(module) and is_private(alias.name):
                    found.append(f"{module}:{node.lineno} imports {target}")
                if target in all_modules():
                    bound[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "kefu":
                    continue
                if app_of(alias.name) != app_of(module) and any(map(is_private, alias.name.split("."))):
                    found.append(f"{module}:{node.lineno} imports {alias.name}")
                bound[alias.asname or "kefu"] = alias.name if alias.asname else "kefu"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain = dotted(node.value)
            if chain is None or chain[0] not in bound:
                continue
            owner = ".".join([bound[chain[0]], *chain[1:]])
            if owner in all_modules() and app_of(owner) != app_of(module):
                found.append(f"{module}:{node.lineno} reads {owner}.{node.attr}")
    return found


def test_no_module_uses_another_apps_private_names():
    found = [hit for module, path in source_files().items() for hit in private_reaches(module, path)]
    assert found == [], "ask the other app's public surface instead:\n" + "\n".join(found)


def dynamic_imports(module: str, path: Path) -> list[str]:
    """Imports by name at run time that are not driven by a Django setting, or that name another app."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name not in DYNAMIC_IMPORTS:
            continue
        target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            if target.value.split(".")[0] == "kefu" and app_of(target.value) != app_of(module):
                found.append(f"{module}:{node.lineno} {name}({target.value!r})")
        elif (dotted(target) or [""])[0] != "settings":
            found.append(f"{module}:{node.lineno} {name}({ast.unparse(target)})")
    return found


def test_no_module_reaches_into_another_app_by_a_dynamic_import():
    found = [hit for module, path in source_files().items() for hit in dynamic_imports(module, path)]
    assert found == [], "import the other app's public surface by name instead:\n" + "\n".join(found)


def documented_apps() -> list[str]:
    """The apps named by the table under ``## Apps``: rows whose first cell is ``kefu.<name>``."""
    lines = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines()
    heading = next((i for i, line in enumerate(lines) if re.fullmatch(r"## Apps\b.*", line)), None)
    if heading is None:
        return []
    rows = dropwhile(lambda line: not line.startswith("|") and not line.startswith("#"), lines[heading + 1 :])
    apps = []
    for row in takewhile(lambda line: line.startswith("|"), rows):
        first_cell = row.strip("|").split("|")[0].strip()
        if match := re.fullmatch(r"`kefu\.(\w+)`", first_cell):
            apps.append(match.group(1))
    return apps


def test_the_architecture_doc_lists_exactly_the_apps_that_exist():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    documented = documented_apps()
    assert sorted(documented) == packages, (
        "docs/architecture.md, table under '## Apps' (first cell `kefu.<name>`): "
        f"missing {sorted(set(packages) - set(documented))}, "
        f"not in src/kefu {sorted(set(documented) - set(packages))}, "
        f"listed twice {sorted({a for a in documented if documented.count(a) > 1})}"
    )
