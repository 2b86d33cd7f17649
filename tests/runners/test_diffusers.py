import io

import pytest
from PIL import Image

from skytells_lab.local.runners import (
    Cancelled,
    DiffusersRunner,
    RunContext,
    build_runner,
    save_tiny_stable_diffusion,
)

INPUT = {"prompt": "a red square", "num_outputs": 1, "num_inference_steps": 3, "width": 64, "height": 64,
         "guidance_scale": 5.0, "seed": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    runner = build_runner({"runner": "diffusers", "path": str(path), "slug": "tiny-sd"}, "cpu")
    runner.load()
    return runner


def test_loads_from_a_path_and_renders(tiny):
    assert isinstance(tiny, DiffusersRunner) and tiny.slug == "tiny-sd"
    seen = []
    out = tiny.predict(INPUT, RunContext("cpu", on_progress=seen.append))
    assert len(out) == 1 and out[0].mime == "image/png"
    assert Image.open(io.BytesIO(out[0].data)).size == (64, 64)
    assert seen[-1] == 1.0 and len(seen) >= 3
    assert out[0].data == tiny.predict(INPUT, RunContext("cpu"))[0].data


def test_cancel_between_steps(tiny):
    ctx = RunContext("cpu")
    ctx._on_progress = lambda fraction: ctx.cancel()
    with pytest.raises(Cancelled):
        tiny.predict(INPUT, ctx)


def test_image_to_image(tiny):
    start = Image.new("RGB", (64, 64), (200, 30, 30))
    buf = io.BytesIO()
    start.save(buf, format="PNG")
    out = tiny.predict({**INPUT, "image": buf.getvalue(), "strength": 0.7, "num_inference_steps": 4},
                       RunContext("cpu"))
    assert Image.open(io.BytesIO(out[0].data)).size == (64, 64)
