"""Binder session memory: the whole process tree under 1.5 GB while every tutorial runs.

Runs the process tree of a Binder session on this machine: the session server as `binder/start` starts
it (`skytells_lab.cli.start_session_server`, the code path of `skytells-lab lab` too), JupyterLab, and
kernels found by the server through SKYTELLS_BASE_URL executing all eight tutorials one after another,
then three at once (01, 04 and 06: the goal's condition). The processes that drive the kernels (nbclient,
standing in for the browser) are not counted. Four totals over the tree, sampled from /proc:

- RSS sum: every resident page of every process; a page of a shared library or of a memory-mapped weights
  file counts once per process that maps it, so this over-counts;
- PSS sum: shared pages split between the processes that map them; it under-counts the files that processes
  outside the session map too (here: other users of the same venv);
- anonymous sum (RssAnon + RssShmem): heaps, tensors, arrays, never shared between these processes;
- **resident, each page once**: the anonymous sum plus, for every mapped file, its resident pages in the
  process that has most of them. This is what a container's memory cgroup (Binder's limit) has to hold for
  the session to run without evicting its own working set, and the figure the goal is judged by. Page cache
  of files read but not mapped is left out: the kernel reclaims it before it would kill anything.

Per process (the server, JupyterLab, each tutorial's kernel) it prints the peak RSS, anonymous and PSS, and
whether torch is loaded there; per phase (idle, each tutorial, the three at once) the peak totals.

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
TOTALS = ("rss", "pss", "anon", "once")


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


def _fields(pid: int, file: str, names: tuple[str, ...]) -> dict[str, int]:
    found = dict.fromkeys(names, 0)
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            name = line.split(":", 1)[0]
            if name in found:
                found[name] = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return found


def _mapped_files(pid: int) -> dict[str, int]:
    """Resident bytes of each file `pid` maps (from /proc/pid/smaps)."""
    files: dict[str, int] = {}
    path = None
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return files
    for line in text.splitlines():
        head = line.split(None, 5)
        if head and "-" in head[0] and not head[0].endswith(":"):
            path = head[5] if len(head) > 5 and head[5].startswith("/") else None
        elif path is not None and line.startswith("Rss:"):
            files[path] = files.get(path, 0) + int(head[1]) * 1024
    return files


class TreeSampler:
    """Samples the descendants of this process, minus the excluded (driver) processes, every `interval`
    seconds (RSS, anonymous, PSS) and every `detail` seconds the per-file residency ("once" total).

    Each process gets a role: "server", "jupyterlab", or the notebook whose driver started it."""

    def __init__(self, interval: float = 0.25, detail: float = 2.0) -> None:
        self.exclude: set[int] = set()
        self.roles: dict[int, str] = {}          # pid -> role, for the server, lab and the drivers
        self.phase = "idle"
        self.peaks: dict[str, dict[str, int]] = {}       # phase -> total -> peak bytes
        self.processes: dict[str, dict[str, int]] = {}   # role -> rss/anon/pss -> peak bytes
        self.torch: dict[str, bool] = {}                 # role -> libtorch mapped there
        self.peak_processes = 0
        self._last_once = 0
        self._interval, self._detail = interval, detail
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> dict[int, str]:
        """pid -> role of every counted process."""
        tree, todo, found = _children(), [(os.getpid(), "other")], {}
        while todo:
            parent, role = todo.pop()
            for child in tree.get(parent, []):
                child_role = self.roles.get(child, role)
                todo.append((child, child_role))
                if child not in self.exclude:
                    found[child] = child_role
        return found

    def sample(self, detail: bool = False) -> dict[str, int]:
        pids = self._tree()
        totals = dict.fromkeys(TOTALS, 0)
        files: dict[str, int] = {}
        for pid, role in pids.items():
            status = _fields(pid, "status", ("VmRSS", "RssAnon", "RssShmem"))
            pss = _fields(pid, "smaps_rollup", ("Pss",))["Pss"]
            anon = status["RssAnon"] + status["RssShmem"]
            totals["rss"] += status["VmRSS"]
            totals["pss"] += pss
            totals["anon"] += anon
            mine = self.processes.setdefault(role, dict.fromkeys(("rss", "anon", "pss"), 0))
            for key, value in (("rss", status["VmRSS"]), ("anon", anon), ("pss", pss)):
                mine[key] = max(mine[key], value)
            if detail:
                mapped = _mapped_files(pid)
                if any("libtorch_cpu" in name for name in mapped):
                    self.torch[role] = True
                for name, size in mapped.items():
                    files[name] = max(files.get(name, 0), size)
        if detail:
            self._last_once = totals["anon"] + sum(files.values())
        totals["once"] = self._last_once
        self.peak_processes = max(self.peak_processes, len(pids))
        return totals

    def _run(self) -> None:
        next_detail = 0.0
        while not self._stop.is_set():
            detail = time.monotonic() >= next_detail
            if detail:
                next_detail = time.monotonic() + self._detail
            totals = self.sample(detail)
            peaks = self.peaks.setdefault(self.phase, dict.fromkeys(TOTALS, 0))
            for key, value in totals.items():
                peaks[key] = max(peaks[key], value)
            self._stop.wait(self._interval)

    def peak(self, total: str, phases=None) -> int:
        return max((p[total] for name, p in self.peaks.items() if phases is None or name in phases), default=0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _run_notebooks(paths: list[Path], sampler: TreeSampler, env: dict[str, str], phase: str,
                   tag: str = "") -> dict[str, float]:
    """Execute `paths` at once, each in a fresh kernel driven by its own nbclient process; seconds each."""
    started = time.perf_counter()
    sampler.phase = phase
    drivers = {}
    for path in paths:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(path)], env=env, cwd=path.parent,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sampler.exclude.add(proc.pid)
        sampler.roles[proc.pid] = f"kernel {path.stem.split('-')[0]}{tag}"
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
        sampler.roles[server.pid] = "server"
        env.update(session_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        lab = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={_free_port()}",
             f"--ServerApp.root_dir={folder}", "--IdentityProvider.token=", "--allow-root"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler.roles[lab.pid] = "jupyterlab"
        try:
            time.sleep(5)
            timings = {}
            for path in sequential:
                timings.update(_run_notebooks([path], sampler, env, phase=path.stem[:2]))
                print(f"  {path.name}: {timings[path.name]:.0f} s, {_line(sampler.peaks[path.stem[:2]])}",
                      flush=True)
            together = _run_notebooks(at_once, sampler, env, phase="at once", tag=" (at once)") if at_once else {}
            if together:
                print(f"  {', '.join(together)} at once: {max(together.values()):.0f} s, "
                      f"{_line(sampler.peaks['at once'])}", flush=True)
        finally:
            sampler.stop()
            lab.terminate()
            lab.wait(30)
            stop_session_server(server)

    mib = 2**20
    print("peak per process (RSS / anonymous / PSS, MiB):")
    for role, peak in sampler.processes.items():
        if role != "other":
            torch = ", torch loaded" if sampler.torch.get(role) else ""
            print(f"  {role:22} {peak['rss'] / mib:7,.0f} {peak['anon'] / mib:7,.0f} {peak['pss'] / mib:7,.0f}{torch}")
    sequential_phases = [p for p in sampler.peaks if p != "at once"]
    once, peak_sequential = sampler.peak("once"), sampler.peak("once", sequential_phases)
    figure = (f"peak {once / mib:,.0f} MiB resident counting each page once ({sampler.peak('anon') / mib:,.0f} MiB "
              f"anonymous; sums over the processes: {sampler.peak('rss') / mib:,.0f} MiB RSS, "
              f"{sampler.peak('pss') / mib:,.0f} MiB PSS) over up to {sampler.peak_processes} processes (server, "
              f"JupyterLab, kernels); one kernel at a time {peak_sequential / mib:,.0f} MiB; idle session "
              f"{sampler.peak('once', ['idle']) / mib:,.0f} MiB")
    report("binder_session_memory", "peak resident memory of the session's process tree, each page once, < 1.5 GB",
           figure, once < GOAL, args.json, peak_once=once, peak_anon=sampler.peak("anon"),
           peak_rss=sampler.peak("rss"), peak_pss=sampler.peak("pss"), peak_sequential_once=peak_sequential,
           phases=sampler.peaks, processes=sampler.processes, torch=sorted(sampler.torch),
           seconds={name: round(s, 1) for name, s in timings.items()},
           at_once_seconds={name: round(s, 1) for name, s in together.items()})
    return 0


def _line(peaks: dict[str, int]) -> str:
    mib = 2**20
    return (f"peak {peaks['once'] / mib:,.0f} MiB once, {peaks['anon'] / mib:,.0f} anonymous, "
            f"{peaks['rss'] / mib:,.0f} RSS, {peaks['pss'] / mib:,.0f} PSS")


if __name__ == "__main__":
    raise SystemExit(main())
