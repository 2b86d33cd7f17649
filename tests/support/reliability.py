"""Shared settings of the reliability tests and benchmarks: the fault mix and fast retries."""

from __future__ import annotations

from support.faults import Fault

# what a flaky network and a busy service do, drawn uniformly by FaultServer.chaos
NETWORK_FAULTS = [
    Fault.rate_limited("0.05"),
    Fault.status(500),
    Fault.status(502),
    Fault.status(503),
    Fault.reset(),
    Fault.drop(),
    Fault.slow(0.3),
    Fault.invalid_json(),
]
# fast retries: the faults, not the backoff, are under test
FAST_RETRY = {"backoff_base": 0.01, "backoff_max": 0.1}
# a digits-diffusion prediction that takes a fraction of a second on a CPU
FAST_DIGITS = {"num_inference_steps": 2, "width": 16, "height": 16}
