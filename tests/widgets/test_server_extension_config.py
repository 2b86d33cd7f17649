"""A plain `pip install` enables the map's server extension: the wheel carries the Jupyter config file
(etc/jupyter/jupyter_server_config.d) that turns it on, and that file names the module that serves the bundle."""

import importlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = "etc/jupyter/jupyter_server_config.d/skytells_lab.json"


def test_the_wheel_installs_the_config_that_enables_the_extension(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("skytells_lab-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        entry = next(n for n in archive.namelist() if n.endswith(".data/data/" + CONFIG))
        config = json.loads(archive.read(entry))
    enabled = [name for name, on in config["ServerApp"]["jpserver_extensions"].items() if on]
    assert enabled == ["skytells_lab.widgets.map_bundle"]
    module = importlib.import_module(enabled[0])
    assert [p["module"] for p in module._jupyter_server_extension_points()] == enabled
