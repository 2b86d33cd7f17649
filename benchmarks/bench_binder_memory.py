"""Binder session memory: the whole process tree under 1.5 GB while every tutorial runs.

Runs the process tree of a Binder session on this machine: the session server as `binder/start` starts
it (`skytells_lab.cli.start_session_server`, the code path of `skytells-lab lab` too), JupyterLab, and
kernels found by the server through SKYTELLS_BASE_URL executing all eight tutorials one after another,
then three at once. The total resident memory of the tree (the sum of RSS of the server, JupyterLab and
the kernels, sampled from /proc every 0.25 s) is the figure; the sum of PSS (shared pages split between
the processes that map them, closer to what a container's memory limit counts) is printed beside it. The
processes that drive the kernels (nbclient, standing in for the browser) are not counted.

    python benchmarks/bench_binder_memory.py            # all eight, then 01, 04 and 06 at once (~15 min)
    python benchmarks/bench_binder_memory.py --quick    # one tiny notebook (the smoke test)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _report import parser, report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GOAL = 1.5 * 2**30
AT_ONCE = ["01-quickstart.ipynb", "04-embedding-space.ipynb", "06-local-parity.ipynb"]
DRIVER = ("import sys; from pathlib import Path; from skytells_lab.notebook.tour import execute_notebook; "
          "execute_notebook(Path(sys.argv[1]), timeout=900)")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _field(pid: int, name: str, file: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler:
    """Sums RSS and PSS over the descendants of this process, minus the excluded (driver) processes."""

    def __init__(self, interval: float = 0.25) -> None:
        self.exclude: set[int] = set()
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self.server_pid: int | None = None
        self.peak_server_anon = self.peak_server_rss = 0  # anonymous: weights and activations, not file pages
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> tuple[int, int, int]:
        tree, todo, pids = _children(), [os.getpid()], []
        while todo:
            for child in tree.get(todo.pop(), []):
                todo.append(child)
                if child not in self.exclude:
                    pids.append(child)
        rss = sum(_field(pid, "VmRSS:", "status") for pid in pids)
        pss = sum(_field(pid, "Pss:", "smaps_rollup") for pid in pids)
        return rss, pss, len(pids)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss, n = self.sample()
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, n)
            if self.server_pid is not None:
                self.peak_server_rss = max(self.peak_server_rss, _field(self.server_pid, "VmRSS:", "status"))
                self.peak_server_anon = max(self.peak_server_anon, _field(self.server_pid, "RssAnon:", "status"))
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _run_notebooks(paths: list[Path], sampler: TreeSampler, env: dict[str, str]) -> dict[str, float]:
    """Execute `paths` at once, each in a fresh kernel driven by its own nbclient process; seconds each."""
    started = time.perf_counter()
    drivers = {}
    for path in paths:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(path)], env=env, cwd=path.parent,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sampler.exclude.add(proc.pid)
        drivers[path.name] = proc
    seconds = {}
    for name, proc in drivers.items():
        _, err = proc.communicate()
        seconds[name] = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    return seconds


def _tiny_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import skytells_lab as sl\nclient = sl.connect()\nassert client.is_local\nclient.embed(['a cat']).shape")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from skytells_lab.cli import _free_port, start_session_server, stop_session_server

    env = {k: v for k, v in os.environ.items() if k not in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="binder-session-") as tmp:
        tmp = Path(tmp)
        env["SKYTELLS_LAB_HOME"] = str(tmp / "home")
        os.environ.update({k: env[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SKYTELLS_LAB_HOME")})
        folder = tmp / "notebooks"
        if args.quick:
            folder.mkdir()
            sequential, at_once = [_tiny_notebook(folder)], []
        else:
            shutil.copytree(REPO / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            sequential = sorted(folder.glob("*.ipynb"))
            at_once = [folder / name for name in AT_ONCE]

        sampler = TreeSampler()
        server, session_env = start_session_server(device="cpu", data_dir=tmp / "server")
        sampler.server_pid = server.pid
        env.update(session_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        lab = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={_free_port()}",
             f"--ServerApp.root_dir={folder}", "--IdentityProvider.token=", "--allow-root"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            idle_rss, _, _ = sampler.sample()
            timings = {}
            for path in sequential:
                timings.update(_run_notebooks([path], sampler, env))
                print(f"  {path.name}: {timings[path.name]:.0f} s, peak so far {sampler.peak_rss / 2**20:,.0f} MiB",
                      flush=True)
            peak_sequential = sampler.peak_rss
            together = _run_notebooks(at_once, sampler, env) if at_once else {}
            if together:
                print(f"  {', '.join(together)} at once: {max(together.values()):.0f} s, "
                      f"peak {sampler.peak_rss / 2**20:,.0f} MiB", flush=True)
        finally:
            sampler.stop()
            lab.terminate()
            lab.wait(30)
            stop_session_server(server)

    mib = 2**20
    figure = (f"peak {sampler.peak_rss / mib:,.0f} MiB RSS ({sampler.peak_pss / mib:,.0f} MiB PSS) over up to "
              f"{sampler.peak_processes} processes (server, JupyterLab, kernels); one kernel at a time "
              f"{peak_sequential / mib:,.0f} MiB; idle session {idle_rss / mib:,.0f} MiB; the server alone "
              f"{sampler.peak_server_rss / mib:,.0f} MiB RSS, {sampler.peak_server_anon / mib:,.0f} MiB of it "
              "anonymous (the rest: mapped weight files and libraries)")
    report("binder_session_memory", "peak RSS of the session's process tree < 1.5 GB", figure,
           sampler.peak_rss < GOAL, args.json, peak_rss=sampler.peak_rss, peak_pss=sampler.peak_pss,
           peak_sequential_rss=peak_sequential, idle_rss=idle_rss, peak_server_rss=sampler.peak_server_rss,
           peak_server_anon=sampler.peak_server_anon,
           seconds={name: round(s, 1) for name, s in timings.items()},
           at_once_seconds={name: round(s, 1) for name, s in together.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
