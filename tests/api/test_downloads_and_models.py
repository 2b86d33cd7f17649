"""prediction.download(folder), `skytells-lab models inspect`, GET /v1/models paging, async frames."""

from __future__ import annotations

import warnings

import httpx
import pytest
from PIL import Image

from skytells_lab.api import AsyncSkytells, ModelPage, Skytells
from skytells_lab.cli import main

DIGITS = "digits-diffusion"
FAST = {"num_inference_steps": 2, "width": 32, "height": 32}


@pytest.fixture
def local(local_server):
    with Skytells(base_url=local_server.url) as c:
        c.cache.disable()
        yield c


def test_download_saves_every_output_and_keeps_other_files(local, tmp_path):
    p = local.run(DIGITS, {"prompt": "4", "num_outputs": 2, **FAST}, timeout=120)
    paths = p.download(tmp_path / "out")
    assert len(paths) == 2 and all(path.parent == tmp_path / "out" for path in paths)
    assert [Image.open(path).size for path in paths] == [(32, 32), (32, 32)]
    assert paths[0].read_bytes() == httpx.get(p.outputs[0]).content
    again = p.download(tmp_path / "out")  # the same files: reused, not duplicated
    assert again == paths and len(list((tmp_path / "out").iterdir())) == 2
    other = local.run(DIGITS, {"prompt": "5", "num_outputs": 2, **FAST}, timeout=120)
    more = other.download(tmp_path / "out", progress=False)
    assert len(set(paths + more)) == 4  # same names, different pictures: suffixed, nothing overwritten


async def test_download_on_the_async_twin(local_server, tmp_path):
    async with AsyncSkytells(base_url=local_server.url) as c:
        p = await c.run(DIGITS, {"prompt": "6", **FAST}, timeout=120)
        paths = await p.download(tmp_path)
        assert len(paths) == 1 and paths[0].stat().st_size > 0


def test_models_inspect_prints_the_input_schema_as_a_table(local_server, capsys):
    assert main(["models", "inspect", DIGITS, "--target", local_server.url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Model('digits-diffusion'")
    header = next(line for line in lines if line.startswith("field"))
    assert header.split() == ["field", "type", "required", "default", "allowed", "description"]
    prompt = next(line for line in lines if line.startswith("prompt"))
    assert "string" in prompt and "yes" in prompt
    steps = next(line for line in lines if line.startswith("num_inference_steps"))
    assert "integer" in steps and ".." in steps
    with pytest.raises(SystemExit, match="name the model"):
        main(["models", "inspect", "--target", local_server.url])


def test_models_page_on_the_server_and_in_the_client(local, local_server):
    bare = httpx.get(f"{local_server.url}/models").json()
    assert isinstance(bare, list) and len(bare) >= 3  # no paging asked: the array the SDKs parse
    paged = httpx.get(f"{local_server.url}/models", params={"per_page": 2, "page": 2}).json()
    assert paged["pagination"] == {"current_page": 2, "per_page": 2, "total": len(bare),
                                   "last_page": -(-len(bare) // 2)}
    assert [m["namespace"] for m in paged["data"]] == [m["namespace"] for m in bare[2:4]]
    default = httpx.get(f"{local_server.url}/models", params={"page": 1}).json()
    assert default["pagination"]["per_page"] == 15
    too_many = httpx.get(f"{local_server.url}/models", params={"per_page": 51})
    assert too_many.status_code == 400 and "per_page" in too_many.text
    page = local.models.list(per_page=2)
    assert isinstance(page, ModelPage) and len(page) == 2 and page.has_next
    assert repr(page).startswith("ModelPage(page 1/")
    assert [m.slug for m in local.models.iter(per_page=1)] == [m["namespace"] for m in bare]
    assert "ModelPage" in page._repr_html_()
    with pytest.raises(ValueError, match="per_page must be between 1 and 50"):
        local.models.list(per_page=80)


async def test_async_models_frame_leaks_no_unawaited_coroutine(local_server):
    async with AsyncSkytells(base_url=local_server.url) as c:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = await c.models.frame()
            import gc

            gc.collect()
        assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]
        assert df.attrs["skytells"]["device"] == "cpu" and len(df) >= 3
        assert [m.slug async for m in c.models.iter(per_page=2)] == list(df["slug"])
