"""The `skytells-lab` command: serve | prepare | models | run | session | lab | tour."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def _notebooks_dir() -> Path:
    """The tutorials: beside the package in a source checkout, else ./notebooks."""
    for candidate in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise SystemExit("skytells-lab: no notebooks/ folder found; run this from a clone of skytells-lab")


def _serve(args: argparse.Namespace) -> int:
    from skytells_lab.local import serve_forever
    from skytells_lab.local.devices import DeviceUnavailable

    try:
        serve_forever(
            host=args.host,
            port=args.port,
            device=args.device,
            api_key=args.api_key or os.environ.get("SKYTELLS_LAB_SERVER_KEY"),
            data_dir=args.data_dir,
            config=args.config,
            dtype=args.dtype,
            preload=True if args.preload else None,
            log_format=args.log_format,
        )
    except DeviceUnavailable as err:
        raise SystemExit(f"skytells-lab serve: {err}") from None
    return 0


def _prepare(args: argparse.Namespace) -> int:
    """Load every built-in model once, so one-time conversions happen now and not in a first request; export
    the embedding model to ONNX and measure which backend the CPU serves it faster with."""
    import time

    from skytells_lab.local.runners import default_runners

    runners = default_runners(args.device)
    unknown = set(args.only or ()) - {r.slug for r in runners}
    if unknown:
        raise SystemExit(f"skytells-lab prepare: no built-in model {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(r.slug for r in runners)}")
    for runner in runners:
        if args.only and runner.slug not in args.only:
            continue
        started = time.perf_counter()
        runner.load()
        print(f"{runner.slug}: ready in {time.perf_counter() - started:.1f} s")
        if hasattr(runner, "onnx_folder") and runner.device.startswith("cpu") and not args.no_onnx:
            _prepare_onnx(runner)
    return 0


def _prepare_onnx(runner) -> None:
    import importlib.util

    from skytells_lab.local.runners import onnx_backend

    if importlib.util.find_spec("onnxruntime") is None:
        print(f"{runner.slug}: no ONNX export (onnxruntime is not installed: pip install 'skytells-lab[local]')")
        return
    reason = onnx_backend.supports(runner.model)
    if reason:
        print(f"{runner.slug}: no ONNX export ({reason})")
        return
    folder = runner.onnx_folder()
    meta = onnx_backend.prepare_onnx(runner.model, folder)
    made = f"exported in {meta['export_s']:.1f} s" if meta["created"] else "already exported"
    print(f"{runner.slug}: ONNX {made} to {folder}")
    print(f"  float32: cosine to torch min {meta['onnx_cosine_min']:.6f}; "
          f"int8: cosine to float32 mean {meta['int8_cosine_mean']:.5f}, min {meta['int8_cosine_min']:.5f}")
    print(f"  {meta['texts']} texts, median of {meta['repeats']}: torch {meta['torch_s']:.2f} s, "
          f"ONNX {meta['onnx_s']:.2f} s, int8 {meta['int8_s']:.2f} s -> CPU default: {meta['faster']}")


def _models(args: argparse.Namespace) -> int:
    import skytells_lab as sl

    if args.action == "inspect" and not args.slug:
        raise SystemExit("skytells-lab models inspect: name the model, e.g. skytells-lab models inspect "
                         "digits-diffusion")
    with sl.connect(args.target) as client:
        if args.action == "inspect":
            model = client.models.get(args.slug, fields=["input_schema", "output_schema"])
            print(repr(model))
            if model.description:
                print(model.description)
            print(schema_table(model.input_schema))
            return 0
        for model in client.models.list(type=args.type):
            print(repr(model))
    return 0


def _bounds(prop: dict) -> str:
    if isinstance(prop.get("enum"), list):
        return "one of " + ", ".join(map(str, prop["enum"]))
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None or hi is not None:
        return f"{'' if lo is None else lo}..{'' if hi is None else hi}"
    if prop.get("maxLength") is not None:
        return f"<= {prop['maxLength']} chars"
    return ""


def schema_table(schema: dict | None) -> str:
    """A model's input schema as a text table: field, type, required, default, allowed, description."""
    props = (schema or {}).get("properties") or {}
    if not props:
        return "(no input schema)"
    required = set((schema or {}).get("required") or [])
    order = sorted(props, key=lambda name: (props[name].get("x-order", 1e9), list(props).index(name)))
    rows = [{"field": name, "type": str(p.get("type", "") if not p.get("format") else f"{p.get('type')} ({p['format']})"),
             "required": "yes" if name in required else "", "default": "" if "default" not in p else str(p["default"]),
             "allowed": _bounds(p), "description": str(p.get("description", ""))[:70]}
            for name, p in ((n, props[n] if isinstance(props[n], dict) else {}) for n in order)]
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in rows[0]}
    lines = ["  ".join(k.ljust(w) for k, w in widths.items())]
    lines += ["  ".join(r[k].ljust(w) for k, w in widths.items()) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _parse_inputs(pairs: list[str]) -> dict:
    inputs = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"skytells-lab run: input {pair!r} must be KEY=VALUE, e.g. prompt='a 7'")
        try:
            inputs[key] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[key] = raw
    return inputs


def _run(args: argparse.Namespace) -> int:
    import skytells_lab as sl

    with sl.connect(args.target) as client:
        prediction = client.run(args.model, input=_parse_inputs(args.inputs), timeout=args.timeout)
        print(repr(prediction))
        for url in prediction.outputs:
            print(url)
    return 0


# JupyterLab saves the state of live widgets into the notebook on save, so a reopened notebook shows its
# widgets (a map with all its points) instead of "Error displaying widget: model not found".
LAB_OVERRIDES = {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


def write_lab_settings(settings_dir: Path) -> Path:
    """Write LAB_OVERRIDES as `settings_dir`/overrides.d/skytells-lab.json (JupyterLab's app settings dir,
    where other packages' overrides sit beside it); the binder image calls this at build time."""
    folder = Path(settings_dir) / "overrides.d"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "skytells-lab.json"
    path.write_text(json.dumps(LAB_OVERRIDES, indent=1), encoding="utf-8")
    return path


def lab_settings_dir() -> Path:
    """A copy of JupyterLab's app settings dir (its overrides kept) with LAB_OVERRIDES added."""
    import shutil
    import tempfile

    from jupyterlab.commands import get_app_dir

    copy = Path(tempfile.mkdtemp(prefix="skytells-lab-settings-"))
    default = Path(get_app_dir()) / "settings"
    if default.is_dir():
        shutil.copytree(default, copy, dirs_exist_ok=True)
    write_lab_settings(copy)
    return copy


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_models() -> dict[str, dict]:
    """What the session server serves differently from a plain `skytells-lab serve` (Binder's memory):

    - the chat model in bfloat16: its weights take 257 MiB instead of 513 (the GGUF it comes from holds
      4-bit weights, so little is lost: 7 of 8 greedy replies identical in a measured 24 tokens; see
      bench_binder_memory.py), and on CPUs with bfloat16 instructions it runs no slower;
    - tutorial 06's injected difference (a copy of all-minilm-l6-v2 with the word "cat" scrambled, made in
      the server when first used), so the tutorial's parity runs need no second server, and no second
      torch and copy of the models, in its kernel.
    """
    from skytells_lab.local.runners.chat import DEFAULT_SLUG as CHAT
    from skytells_lab.local.runners.faults import CAT_SCRAMBLED

    return {CHAT: {"runner": "chat", "dtype": "bfloat16"}, "minilm-cat-scrambled": CAT_SCRAMBLED}


def session_config_toml(models: dict[str, dict] | None = None) -> str:
    """The session server's config file (``[models.<slug>]`` tables; see skytells_lab.local.config)."""
    lines = []
    for slug, spec in (_session_models() if models is None else models).items():
        lines.append(f"[models.{json.dumps(slug)}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in spec.items()]  # JSON scalars/lists are TOML
        lines.append("")
    return "\n".join(lines)


def start_session_server(*, device: str = "auto", data_dir: str | os.PathLike | None = None, port: int = 0,
                         timeout: float = 120.0) -> tuple[subprocess.Popen, dict[str, str]]:
    """One embedded server for a whole Jupyter session, as a background `skytells-lab serve` process.

    Returns the process and the environment every kernel of the session needs: ``SKYTELLS_BASE_URL`` (so
    ``sl.connect()`` uses this server and the models load once, not per kernel) and
    ``SKYTELLS_WEBHOOK_SECRET`` (the server's webhook signing secret, so a kernel's ``WebhookInbox``
    verifies its deliveries), ``MALLOC_ARENA_MAX`` (2 unless already set, for the server too: glibc
    otherwise gives each of the server's request and torch threads its own heap arena, which keeps freed
    activation memory resident; measured in benchmarks/bench_binder_memory.py) and
    ``MALLOC_MMAP_THRESHOLD_`` (1 MiB for the kernels unless set; the server's is 64 KiB). Besides the
    built-in models it serves tutorial 06's damaged model, and its chat model in bfloat16 (see ``_session_models``; the
    config is written to ``session.toml`` in the data dir). `skytells-lab lab` and
    Binder's ``binder/start`` (through `skytells-lab session`) both start the session this way.
    """
    import time

    import httpx

    from skytells_lab.local.config import default_data_dir

    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SKYTELLS_LAB_SERVER_KEY",)}
    malloc = {"MALLOC_ARENA_MAX": env.setdefault("MALLOC_ARENA_MAX", "2")}
    # every allocation of 64 KiB or more its own mapping in the server, handed back to the system when freed.
    # glibc otherwise raises that threshold to 32 MiB once a big block is freed, and the model's activations
    # (12 MiB a layer for a batch of 64 texts) then stay in the heap: 115 MiB more after embedding 800
    # texts, measured. The kernels get 1 MiB (pandas makes many small arrays, which stay in the heap): it
    # keeps the dynamic threshold from growing too, and tutorial 04's kernel ends 54 MiB lower (395 MiB
    # anonymous instead of 449, the same 9 s), its big map's temporaries given back.
    malloc["MALLOC_MMAP_THRESHOLD_"] = os.environ.get("MALLOC_MMAP_THRESHOLD_", "1048576")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    config = folder / "session.toml"
    config.write_text(session_config_toml(), encoding="utf-8")
    log = open(folder / "session-server.log", "ab")  # noqa: SIM115 - handed to the process, closed below
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "skytells_lab.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--device", device, "--data-dir", str(folder), "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    finally:
        log.close()
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"skytells-lab: the session server exited ({process.returncode}); see "
                             f"{folder / 'session-server.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit(f"skytells-lab: the session server did not answer at {url} in {timeout:g} s")
        time.sleep(0.2)
    # started without an api key or a configured secret, the server signs with the secret it keeps here
    secret = (folder / "webhook_secret").read_text().strip()
    return process, {"SKYTELLS_BASE_URL": url, "SKYTELLS_WEBHOOK_SECRET": secret, **malloc}


def stop_session_server(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server `start_session_server` started (SIGTERM, then SIGKILL after `timeout` seconds)."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _session(args: argparse.Namespace) -> int:
    """Start the session server in the background and print the shell lines that point kernels at it."""
    import shlex

    process, env = start_session_server(device=args.device, data_dir=args.data_dir, port=args.port)
    for name, value in {**env, "SKYTELLS_LAB_SESSION_PID": str(process.pid)}.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _lab(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    server = None
    if not env.get("SKYTELLS_API_KEY") and not env.get("SKYTELLS_BASE_URL"):
        # One embedded server for every kernel the lab starts: models load once.
        server, session_env = start_session_server(device=args.device, data_dir=args.data_dir)
        env.update(session_env)
        print(f"embedded Skytells server at {session_env['SKYTELLS_BASE_URL']}")
    from skytells_lab.widgets.map_bundle import server_extension_args

    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={_notebooks_dir()}", f"--port={args.port}",
           f"--LabApp.app_settings_dir={lab_settings_dir()}", *server_extension_args()]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    try:
        return subprocess.call(cmd, env=env)
    finally:
        if server is not None:
            stop_session_server(server)


def _tour(args: argparse.Namespace) -> int:
    from skytells_lab.notebook.tour import NotebookFailed, run_notebook

    notebook = Path(args.notebook) if args.notebook else _notebooks_dir() / "01-quickstart.ipynb"
    try:
        html = run_notebook(notebook, Path(args.output), timeout=args.timeout)
    except NotebookFailed as failed:
        print(f"skytells-lab tour: {failed}", file=sys.stderr)
        print(f"skytells-lab tour: the outputs up to that cell are in {args.output}", file=sys.stderr)
        return 1
    print(f"executed {notebook.name} -> {html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skytells-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded Skytells API v1 server on open models")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    serve.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                       help="weights precision of the built-in models (float16/bfloat16 on a GPU)")
    serve.add_argument("--api-key", help="require this key (required off loopback; or SKYTELLS_LAB_SERVER_KEY)")
    serve.add_argument("--data-dir", help="predictions and outputs (default: SKYTELLS_LAB_HOME or the user data dir)")
    serve.add_argument("--config", help="TOML file adding models and aliases")
    serve.add_argument("--preload", action="store_true",
                       help="load every model as the server starts; /v1/health answers 503 until they are loaded")
    serve.add_argument("--log-format", default="text", choices=["text", "json"],
                       help="json: one JSON access-log line per request (no keys, bodies or query strings)")
    serve.set_defaults(func=_serve)

    prepare = sub.add_parser("prepare", help="load the built-in local models once (warms their caches)")
    prepare.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    prepare.add_argument("--only", action="append", metavar="SLUG", help="prepare only this model (repeatable)")
    prepare.add_argument("--no-onnx", action="store_true", help="skip the embedding model's ONNX export")
    prepare.set_defaults(func=_prepare)

    target_help = "'local', a base URL, or nothing for SKYTELLS_API_KEY / the embedded server"
    models = sub.add_parser("models", help="list the model catalog, or inspect one model's input schema")
    models.add_argument("action", nargs="?", default="list", choices=["list", "inspect"],
                        help="list (the default) or inspect SLUG: its input schema as a table")
    models.add_argument("slug", nargs="?", default=None, help="the model to inspect")
    models.add_argument("--target", default=None, help=target_help)
    models.add_argument("--type", default=None, help="image, video, audio, music, text, ...")
    models.set_defaults(func=_models)

    run = sub.add_parser("run", help="run one prediction and print its outputs")
    run.add_argument("model")
    run.add_argument("inputs", nargs="*", metavar="KEY=VALUE", help="inputs; values are JSON when they parse")
    run.add_argument("--target", default=None, help=target_help)
    run.add_argument("--timeout", type=float, default=600.0)
    run.set_defaults(func=_run)

    lab = sub.add_parser("lab", help="JupyterLab on the tutorials with the embedded server ready")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    lab.add_argument("--data-dir", default=None)
    lab.set_defaults(func=_lab)

    session = sub.add_parser("session", help="start the embedded server for a Jupyter session in the background "
                             "and print `export` lines for its kernels (binder/start evals them)")
    session.add_argument("--port", type=int, default=0, help="0: a free port")
    session.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    session.add_argument("--data-dir", default=None)
    session.set_defaults(func=_session)

    tour = sub.add_parser("tour", help="run the quickstart headless and write an executed HTML copy")
    tour.add_argument("--notebook", default=None, help="another notebook to run instead of the quickstart")
    tour.add_argument("--output", default="quickstart.html")
    tour.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    tour.set_defaults(func=_tour)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
