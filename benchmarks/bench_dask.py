"""``ddf.skytells.embed`` on a 2-worker LocalCluster against ``client.embed`` in one process, same texts.

The local server runs in its own process; the one-process reference keeps 4 requests in flight
(``client.embed(concurrency=4)``), the cluster 2 per worker (4 in all). Both embed 20,000 short texts in
batches of 256. Reported: the cluster's time as a ratio of the one process's, the cost of checkpointing
(the same job writing each partition to Parquet, against the job without a checkpoint), and a rerun of the
finished job (everything read back, no request sent).

On one machine the server is the bottleneck for both, so the cluster cannot be faster; what is measured is
what the distribution costs. Goal: the cluster within 1.25x of one process, checkpointing under 10% more.
"""

from __future__ import annotations

import os
import tempfile
import time

from _local import REPO, machine_load, server_process, short_texts
from _report import parser, report

BATCH = 256


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--texts", type=int, default=None)
    p.add_argument("--partitions", type=int, default=None)
    args = p.parse_args()
    n = args.texts or (256 if args.quick else 20_000)
    partitions = args.partitions or (2 if args.quick else 16)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])  # for the workers

    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    from distributed import Client, LocalCluster

    import skytells_lab.notebook.dask_accessor  # noqa: F401 - registers ddf.skytells
    from skytells_lab.api import Skytells
    from skytells_lab.notebook.cluster_client import ClientConfig

    texts = short_texts(n)
    with server_process() as url, Skytells(base_url=url, timeout=300) as client, \
            LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster), tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        load = machine_load()
        config = ClientConfig(base_url=url)
        ddf = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=partitions)
        ddf.head(2).skytells.embed("text", client=client)  # warm: both sides have loaded everything

        def job(checkpoint=None):
            return ddf.skytells.embed("text", config=config, checkpoint=checkpoint, batch_size=BATCH,
                                      concurrency=2).skytells.compute(progress=False)

        job()  # the workers' first partitions import pandas, pyarrow and the client: not part of a job
        started = time.perf_counter()
        alone = client.embed(texts, batch_size=BATCH, concurrency=4, progress=False)
        one = time.perf_counter() - started
        started = time.perf_counter()
        plain = job()
        dask_s = time.perf_counter() - started
        started = time.perf_counter()
        kept = job(f"{tmp}/ck")
        checkpointed = time.perf_counter() - started
        started = time.perf_counter()
        again = job(f"{tmp}/ck")
        rerun = time.perf_counter() - started
        for df in (plain, kept, again):
            np.testing.assert_allclose(df.skytells.vectors("text"), alone, atol=1e-5)

    ratio = dask_s / one
    cost = checkpointed / dask_s - 1
    figure = (f"{n:,} texts: one process {one:.1f} s ({n / one:,.0f}/s), 2-worker cluster {dask_s:.1f} s = "
              f"{ratio:.2f}x; with the checkpoint {checkpointed:.1f} s ({cost:+.0%}); rerun of the finished job "
              f"{rerun:.2f} s, read back ({partitions} partitions; {load})")
    report("dask_embed", "cluster within 1.25x of one process; checkpointing under +10%", figure,
           ratio <= 1.25 and cost <= 0.10, args.json, texts=n, partitions=partitions, one_process_s=one,
           cluster_s=dask_s, checkpointed_s=checkpointed, rerun_s=rerun, ratio=ratio, checkpoint_cost=cost)


if __name__ == "__main__":
    main()
