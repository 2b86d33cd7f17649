import io

import numpy as np
import pytest
from PIL import Image

from skytells_lab.local.runners import Cancelled, RunContext, parse_digit

BASE = {"num_outputs": 1, "width": 64, "height": 64, "num_inference_steps": 20, "guidance_scale": 2.0}


def predict(runner, ctx=None, **input):
    return runner.predict({**BASE, **input}, ctx or RunContext("cpu"))


def to_features(png: bytes) -> np.ndarray:
    """A generated PNG as sklearn-digits features: 8x8, ink 0..16."""
    gray = Image.open(io.BytesIO(png)).convert("L").resize((8, 8), Image.Resampling.BOX)
    return (255.0 - np.asarray(gray, dtype=np.float64)) / 255.0 * 16.0


def test_parse_digit():
    assert parse_digit("7") == 7 and parse_digit("a handwritten 3, please") == 3
    assert parse_digit("the digit Nine") == 9 and parse_digit(4) == 4
    with pytest.raises(ValueError, match="prompt"):
        parse_digit("a cat")


def test_outputs_are_pngs_of_the_requested_size(digits):
    out = predict(digits, prompt="5", seed=1, num_outputs=2, width=48, height=32)
    assert [o.filename for o in out] == ["out-0.png", "out-1.png"] and out[0].mime == "image/png"
    assert Image.open(io.BytesIO(out[0].data)).size == (48, 32)
    assert digits.metrics({"num_outputs": 2}) == {"image_count": 2}


def test_same_seed_same_bytes_and_seeds_differ(digits):
    a = predict(digits, prompt="3", seed=11)[0].data
    assert a == predict(digits, prompt="3", seed=11)[0].data
    assert a != predict(digits, prompt="3", seed=12)[0].data


def test_generated_digits_are_recognisable(digits):
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    data = load_digits()
    clf = SVC(gamma=0.001).fit(data.data, data.target)
    wanted = list(range(10))
    feats = [to_features(predict(digits, prompt=f"the digit {d}", seed=100 + d)[0].data).ravel() for d in wanted]
    predicted = clf.predict(np.array(feats))
    assert (predicted == np.array(wanted)).sum() >= 8, predicted


def test_image_to_image_differs_from_input_and_depends_on_strength(digits):
    start = predict(digits, prompt="1", seed=3)[0].data
    start_px = np.asarray(Image.open(io.BytesIO(start)).convert("L"), dtype=np.float64)

    def edit(strength):
        png = predict(digits, prompt="8", seed=5, image=start, strength=strength)[0].data
        return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)

    light, heavy = edit(0.2), edit(0.9)
    assert np.abs(light - start_px).mean() > 0.5
    assert np.abs(light - start_px).mean() < np.abs(heavy - start_px).mean()
    assert not np.array_equal(light, heavy)
    # raw bytes, a PIL image and a MediaFile-like object are the same input
    media = type("MediaFile", (), {"data": start, "mime": "image/png"})()
    a = predict(digits, prompt="8", seed=5, image=media, strength=0.5)[0].data
    assert a == predict(digits, prompt="8", seed=5, image=Image.open(io.BytesIO(start)), strength=0.5)[0].data


def test_progress_and_cancel(digits):
    seen = []
    ctx = RunContext("cpu", on_progress=seen.append)
    predict(digits, ctx, prompt="2", seed=0, num_inference_steps=10)
    assert len(seen) == 10 and seen[-1] == 1.0 and seen == sorted(seen)

    def cancel_midway(fraction):
        if fraction >= 0.3:
            ctx2.cancel()

    ctx2 = RunContext("cpu", on_progress=cancel_midway)
    with pytest.raises(Cancelled):
        predict(digits, ctx2, prompt="2", seed=0, num_inference_steps=10)
    assert ctx2.last_progress < 0.5


def test_catalog_entry(digits):
    entry = digits.catalog_entry()
    assert entry["namespace"] == "digits-diffusion" and entry["type"] == "image"
    assert entry["capabilities"] == ["text-to-image", "image-to-image"]
    assert entry["metadata"]["local"] is True and entry["metadata"]["device"] == "cpu"
    props = entry["input_schema"]["properties"]
    assert entry["input_schema"]["required"] == ["prompt"]
    assert props["image"]["format"] == "uri" and props["strength"]["default"] == 0.6
    assert sorted(p["x-order"] for p in props.values()) == list(range(len(props)))
