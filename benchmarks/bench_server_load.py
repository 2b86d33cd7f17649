"""Local server under load: 200 concurrent pollers GET predictions while 50 creators POST new ones, 30 s.

Bounded and self-stopping, loopback only. Goal: no errors but the 429s the server chose to send (none
unless --rate-limit is given); the p50/p99 of GET /v1/predictions/{id} are printed (absolute, this machine).
The server runs in a child process (its own GIL); the load comes from one asyncio loop in this process.
"""

from __future__ import annotations

from _load import run_load
from _local import machine_load, server_process
from _report import parser, report


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--pollers", type=int, default=None)
    p.add_argument("--creators", type=int, default=None)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--rate-limit", type=int, default=None, help="server rate limit (requests per 60 s)")
    args = p.parse_args()
    def size(given, quick, full):
        return given if given is not None else (quick if args.quick else full)

    pollers, creators, seconds = size(args.pollers, 10, 200), size(args.creators, 2, 50), size(args.seconds, 2.0, 30.0)
    config = {"server": {"rate_limit_requests": args.rate_limit}} if args.rate_limit else None
    with server_process(config, warm=()) as url:
        load_before = machine_load()
        result = run_load(url, pollers=pollers, creators=creators, seconds=seconds)
    s = result.summary()
    figure = (f"GET p50 {s['get_p50_ms']:.1f} ms, p99 {s['get_p99_ms']:.1f} ms over {s['gets']} GETs "
              f"({s['gets_per_s']:.0f}/s), {s['creates']} creates, {s['rate_limited_429']} chosen 429s, "
              f"{s['errors']} errors; {pollers} pollers + {creators} creators for {seconds:g} s; {load_before}")
    report("server_load", "no errors but chosen 429s; p50/p99 of GET prediction printed", figure,
           s["errors"] == 0 and s["gets"] > 0, args.json, pollers=pollers, creators=creators, **s)


if __name__ == "__main__":
    main()
