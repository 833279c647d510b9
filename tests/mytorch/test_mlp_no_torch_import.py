"""mytorch is NumPy only: importing it must not import torch, and no module may import it."""
import ast
import subprocess
import sys
from pathlib import Path

import mytorch

PACKAGE = Path(mytorch.__file__).parent


def test_importing_mytorch_does_not_import_torch():
    code = ("import sys, mytorch, mytorch.autograd, mytorch.optim, mytorch.models; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')); "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_mytorch_source_imports_torch():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "torch" for n in names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == [], f"mytorch must not import torch: {offenders}"


def _mytorch_imports(path):
    """The ``mytorch`` modules a source file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [module] if node.module else [f"{module}.{a.name}" for a in node.names]
    return [m for m in found if m.split(".")[0] == "mytorch"]


def test_autograd_does_not_import_the_layers_built_on_it():
    """Dependencies point down (issue 26): ``mytorch.autograd`` and the bottom helpers in
    ``mytorch.arrays`` import no layer, model or optimizer."""
    offenders = []
    for path in [PACKAGE / "arrays.py", *sorted((PACKAGE / "autograd").glob("*.py"))]:
        for module in _mytorch_imports(path):
            if module.split(".")[1] in ("nn", "models", "optim", "decoding", "serialization"):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert offenders == [], offenders
    assert "mytorch.arrays" in _mytorch_imports(PACKAGE / "autograd" / "tensor.py")  # resolves
