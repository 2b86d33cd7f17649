import pytest

MESSAGES = [{"role": "user", "content": "Name three colours."}]


def run(chat, messages=MESSAGES, **kw):
    params = {"max_tokens": 12, "temperature": 0.0, "top_p": 1.0, "seed": None, "stop": None,
              "cancelled": lambda: False}
    params.update(kw)
    gen = chat.generate(messages, **params)
    pieces = list(gen)
    return gen, pieces


def test_greedy_is_deterministic_and_counts_tokens(chat):
    a, _ = run(chat)
    b, _ = run(chat)
    assert a.text and a.text == b.text
    assert a.prompt_tokens > 5 and 0 < a.completion_tokens <= 12
    assert a.finish_reason in ("stop", "length")


def test_streaming_pieces_join_to_the_text(chat):
    gen, pieces = run(chat, max_tokens=16)
    assert len(pieces) > 1
    assert "".join(pieces) == gen.text == run(chat, max_tokens=16)[0].text


def test_length_finish_reason(chat):
    gen, _ = run(chat, max_tokens=3)
    assert gen.completion_tokens == 3 and gen.finish_reason == "length"


def test_stop_sequence_trims_and_stops(chat):
    full, _ = run(chat, max_tokens=16)
    words = full.text.split()
    assert len(words) >= 3, full.text
    stop = words[2]
    gen, _ = run(chat, max_tokens=16, stop=[stop, "never-occurs"])
    assert gen.text == full.text[: full.text.find(stop)]
    assert gen.finish_reason == "stop"
    assert stop not in gen.text


def test_cancel_stops_early(chat):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    gen, _ = run(chat, max_tokens=40, cancelled=cancelled)
    assert gen.completion_tokens < 10
    assert gen.cancelled and gen.finish_reason == "stop"


def test_seeded_sampling_repeats(chat):
    a, _ = run(chat, temperature=1.0, top_p=0.95, seed=7, max_tokens=10)
    b, _ = run(chat, temperature=1.0, top_p=0.95, seed=7, max_tokens=10)
    assert a.text == b.text


def test_content_parts_and_validation(chat):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name three colours."}]}]
    assert run(chat, messages=parts)[0].text == run(chat)[0].text
    with pytest.raises(ValueError, match=r"messages\[0\]\.content\[0\]"):
        chat.generate([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
                      max_tokens=2, temperature=0, top_p=1, seed=None, stop=None, cancelled=lambda: False)
    with pytest.raises(ValueError, match="messages"):
        chat.generate([], max_tokens=2, temperature=0, top_p=1, seed=None, stop=None, cancelled=lambda: False)


def test_abandoned_stream_releases_the_model(chat):
    gen = chat.generate(MESSAGES, max_tokens=64, temperature=0, top_p=1, seed=None, stop=None,
                        cancelled=lambda: False)
    it = iter(gen)
    next(it)
    it.close()  # the consumer went away: the generation thread must end and free the lock
    assert chat._generate_lock.acquire(timeout=5)
    chat._generate_lock.release()
