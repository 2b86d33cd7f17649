"""`python -m skytells_lab.local`: the same as `skytells-lab serve`."""

from __future__ import annotations

import argparse
import os

from skytells_lab.local.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skytells_lab.local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--api-key", default=os.environ.get("SKYTELLS_LAB_SERVER_KEY"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    serve_forever(host=args.host, port=args.port, device=args.device, api_key=args.api_key,
                  data_dir=args.data_dir, config=args.config)


if __name__ == "__main__":
    main()
