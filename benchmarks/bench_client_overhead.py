"""Client overhead: 2,000 small GETs to the local server through our client against a raw ``httpx.Client``
on the same routes (goal: within 1.3x), and ``client.embeddings.create`` against the OpenAI SDK on
``/v1/embeddings`` (goal: no slower).

GETs alternate GET /v1/models/{slug} and GET /v1/predictions/{id} (typed results for ours, ``.json()`` for
raw httpx). Rounds alternate between the contenders; each keeps its best round.
"""

from __future__ import annotations

import time

from _local import REPO, machine_load, server_process  # noqa: F401 - REPO sets sys.path
from _report import parser, report


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--gets", type=int, default=None)
    p.add_argument("--embeds", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    args = p.parse_args()
    gets = args.gets or (40 if args.quick else 2000)
    embeds = args.embeds or (10 if args.quick else 200)
    rounds = args.rounds or (1 if args.quick else 3)

    import httpx
    import openai

    from skytells_lab.api import Skytells

    slug = "all-minilm-l6-v2"
    with server_process() as url, Skytells(base_url=url, timeout=120) as client, \
            httpx.Client(base_url=url, timeout=120) as raw:
        pid = raw.post("/predictions", json={"model": "digits-diffusion", "input": {
            "prompt": "3", "num_inference_steps": 2, "width": 16, "height": 16}}).json()["id"]
        oai = openai.OpenAI(base_url=url, api_key="local", max_retries=0, timeout=120)
        load = machine_load()

        def ours_gets():
            for i in range(gets // 2):
                client.models.get(slug)
                client.predictions.get(pid)

        def raw_gets():
            for i in range(gets // 2):
                raw.get(f"/models/{slug}").raise_for_status()
                raw.get(f"/predictions/{pid}").json()

        def ours_embeds():
            for i in range(embeds):
                _ = client.embeddings.create(model=slug, input=[f"tiny {i}"]).vectors

        def oai_embeds():
            for i in range(embeds):
                _ = oai.embeddings.create(model=slug, input=[f"tiny {i}"]).data[0].embedding

        for warm in (ours_gets, raw_gets):
            warm()
        ours_embeds(), oai_embeds()
        g_ours, g_raw, e_ours, e_oai = [], [], [], []
        for _ in range(rounds):
            g_ours.append(_timed(ours_gets))
            g_raw.append(_timed(raw_gets))
            e_ours.append(_timed(ours_embeds))
            e_oai.append(_timed(oai_embeds))
        oai.close()
    get_ratio = min(g_ours) / min(g_raw)
    emb_ratio = min(e_ours) / min(e_oai)
    per = lambda s, n: s / n * 1e3
    figure = (f"GETs {per(min(g_ours), gets):.2f} ms vs raw httpx {per(min(g_raw), gets):.2f} ms = {get_ratio:.2f}x; "
              f"embeddings {per(min(e_ours), embeds):.1f} ms vs OpenAI SDK {per(min(e_oai), embeds):.1f} ms = "
              f"{emb_ratio:.2f}x ({gets} GETs, {embeds} embeds, best of {rounds}; {load})")
    report("client_overhead", "GETs within 1.3x raw httpx; embeddings no slower than the OpenAI SDK", figure,
           get_ratio <= 1.3 and emb_ratio <= 1.0, args.json, get_ratio=get_ratio, embeddings_ratio=emb_ratio,
           gets=gets, embeds=embeds, ours_get_runs=g_ours, raw_get_runs=g_raw, ours_embed_runs=e_ours,
           openai_embed_runs=e_oai)


if __name__ == "__main__":
    main()
