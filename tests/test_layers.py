"""Import layers: components never reach up into the harness, representations never import renderers,
and the shared low-level packages never import the dataset generator, the harness or a component.

Checked statically with ``ast`` over every .py file of the repo's packages (imports inside functions
and ``TYPE_CHECKING`` blocks included, relative imports resolved), so nothing is imported to check.

The harness entry points a component must not import are ``sandbox.pipeline`` (the stages),
``sandbox.run`` (the CLI), ``sandbox.bench`` (the ``python -m sandbox.bench`` CLI, which itself imports
generators), ``sandbox.report`` (the ``python -m sandbox.report`` cross-run CLI) and ``sandbox.registry``
(name -> component lookup: it locates components from YAML ``_target_``; a component importing it
would point the dependency the wrong way). Components may use the low-level helpers
(``sandbox.config``, ``sandbox.errors``, ``sandbox.constants``, ``sandbox.paths``), the shared packages
and ``sandbox.trainers``.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "generators", "representations", "renderers", "experiments")

COMPONENTS = ("generators", "representations", "renderers")
HARNESS = ("sandbox.pipeline", "sandbox.run", "sandbox.bench", "sandbox.report", "sandbox.registry")
# the face analyser (sandbox.analysis) counts too: representations encode video with it
LOW_LEVEL = ("sandbox.losses", "sandbox.data", "sandbox.audio", "sandbox.geometry", "sandbox.face",
             "sandbox.nets", "sandbox.metrics", "sandbox.analysis")

# (rule, modules it applies to, names those modules must not import)
RULES = (
    ("components do not import the harness", COMPONENTS, HARNESS),
    ("a representation never imports a renderer", ("representations",), ("renderers",)),
    ("shared low-level packages do not import the world, the harness or components", LOW_LEVEL,
     ("sandbox.world", *HARNESS, *COMPONENTS)),
)


@dataclass(frozen=True)
class Violation:
    rule: str
    module: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported} ({self.rule})"


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """Dotted module name of ``path`` under ``root`` and whether it is a package ``__init__``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def imported_names(tree: ast.AST, module: str, is_pkg: bool) -> list[tuple[str, int]]:
    """Every (absolute dotted name, line) the module imports, at any depth of the tree.

    ``from a.b import c`` gives ``a.b.c`` (c may be a module or an attribute; prefix matching treats
    both alike); relative imports are resolved against ``module``; ``importlib.import_module("x")``
    with a literal string counts too."""
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            for a in node.names:
                out.append((stem if a.name == "*" else f"{stem}.{a.name}".lstrip("."), node.lineno))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if fname in ("import_module", "__import__"):
                out.append((node.args[0].value, node.lineno))
    return out


def check_layers(root: str | Path, packages: tuple[str, ...] = PACKAGES) -> list[Violation]:
    """All layer violations under ``root`` (a repo root holding the top-level packages)."""
    root = Path(root)
    found: list[Violation] = []
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            module, is_pkg = module_name(root, path)
            rules = [(r, bad) for r, applies, bad in RULES if _under(module, applies)]
            if not rules:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, line in imported_names(tree, module, is_pkg):
                found += [Violation(r, module, name, line) for r, bad in rules if _under(name, bad)]
    return found


def test_repo_respects_import_layers():
    assert (REPO / "sandbox" / "pipeline").is_dir() and (REPO / "generators").is_dir()
    bad = check_layers(REPO)
    assert not bad, "import-layer violations:\n" + "\n".join(f"  {v}" for v in bad)


FAKE = {
    "representations/__init__.py": "",
    "representations/x.py": "import numpy\nfrom renderers.y import Draw\n",
    "representations/sub/__init__.py": "",
    "representations/sub/rel.py": "from ... import renderers\n",
    "renderers/__init__.py": "",
    "renderers/y.py": "from representations.x import X\n",  # allowed: renderers draw representations
    "renderers/z.py": "import sandbox.run\n",
    "generators/__init__.py": "",
    "generators/g.py": "import torch\n\n\ndef f():\n    from sandbox.pipeline import fit\n    return fit\n",
    "generators/h.py": "from sandbox import registry\nfrom sandbox.config import locate\n",
    "sandbox/__init__.py": "",
    "sandbox/losses/__init__.py": "",
    "sandbox/losses/z.py": "import sandbox.world.speech\n",
    "sandbox/data/__init__.py": "",
    "sandbox/data/clips.py": "from ..face import topology\nfrom ..world import dataset\n",
    "sandbox/metrics/__init__.py": "from .report import x\n",  # sandbox.metrics.report, not sandbox.report
    "sandbox/metrics/w.py": "import importlib\nimportlib.import_module('generators.flow')\n",
    "sandbox/face/__init__.py": "",
    "sandbox/face/q.py": "if True:\n    from sandbox.pipeline.eval import run\n",
    "sandbox/world/__init__.py": "",
    "sandbox/world/speech.py": "from sandbox.face import topology\n",  # allowed: world is above face
}


def test_checker_flags_each_rule(tmp_path):
    for rel, text in FAKE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    got = {(v.module, v.imported, v.line) for v in check_layers(tmp_path)}
    assert got == {
        ("representations.x", "renderers.y.Draw", 2),
        ("representations.sub.rel", "renderers", 1),
        ("renderers.z", "sandbox.run", 1),
        ("generators.g", "sandbox.pipeline.fit", 5),
        ("generators.h", "sandbox.registry", 1),
        ("sandbox.losses.z", "sandbox.world.speech", 1),
        ("sandbox.data.clips", "sandbox.world.dataset", 2),
        ("sandbox.metrics.w", "generators.flow", 2),
        ("sandbox.face.q", "sandbox.pipeline.eval.run", 2),
    }
