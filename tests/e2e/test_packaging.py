"""The wheel (not only the editable install) carries star.tasks, star.checkers and the
Hydra configs, and `star run` composes its config from the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_layout_and_config_discovery(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("star-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in ["star/cli.py", "star/tasks/arithmetic.py", "star/checkers/pool.py",
                     "star/conf/__init__.py", "star/conf/config.yaml", "star/conf/task/arithmetic.yaml",
                     "star/conf/experiment/smoke.yaml", "star/conf/hydra/job_logging/star.yaml"]:
        assert required in names, required
    assert not any(n.startswith(("tasks/", "checkers/", "conf/")) for n in names), "generic top-level names"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # The unpacked wheel comes first on the path, so the repository's editable install is not used.
    code = ("import star, sys; assert star.__file__.startswith(sys.argv[1]), star.__file__; "
            "from star.cli import main; sys.exit(main(['run', '--cfg', 'job', 'experiment=smoke']))")
    proc = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "_target_: star.tasks.arithmetic.Arithmetic" in proc.stdout
    assert "experiment: smoke" in proc.stdout
