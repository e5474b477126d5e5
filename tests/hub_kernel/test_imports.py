"""``import hub_kernel`` stays light: no torch, stable-baselines3, mlflow, or UI libraries."""

import subprocess
import sys

HEAVY = ("torch", "stable_baselines3", "mlflow", "bokeh", "ipywidgets", "sklearn")


def test_engine_imports_no_heavy_or_ui_modules():
    code = (
        "import sys, hub_kernel, hub_kernel.cli, hub_kernel.layout, hub_kernel.serve, "
        "hub_kernel.doctor, hub_kernel.core.config;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_never_imports_the_widgets_package(repo):
    offenders = [p for p in (repo / "hub_kernel").rglob("*.py")
                 if "import widgets" in p.read_text() or "from widgets" in p.read_text()]
    assert offenders == []
