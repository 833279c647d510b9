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
