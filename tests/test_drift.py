"""Output drift verdicts on hand-built fingerprints (identical, within tolerance, tie flip, drifted), the
fingerprint's JSON round trip, and the transformers engine's per-token logprobs on the built-in model
checked against a full forward pass's log-softmax."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_llm.engines.base import SamplingParams, TokenLogprob
from pytest_ascend_llm.outputs.drift import (
    DRIFTED,
    ENDED,
    IDENTICAL,
    NOISE,
    TIE_FLIP,
    WITHIN_TOLERANCE,
    compare,
    summary_line,
)
from pytest_ascend_llm.outputs.fingerprint import TOP_K, Fingerprint, fingerprint_of
from pytest_ascend_llm.torch_backend import torch

TOLERANCE = 0.05
WORDS = {10: "Paris", 11: "London", 12: "Rome", 20: ".", 21: "!", 22: ",", 30: " is", 31: " was"}


def _position(token: int, top: list[tuple[int, float]], text: str | None = None) -> TokenLogprob:
    """One output position whose chosen token is ``token`` with its logprob taken from ``top``."""
    return TokenLogprob(token, dict(top)[token], tuple(top), text)


def _saved() -> Fingerprint:
    """Three positions: confident (margin 2.0), a near tie (margin 0.01), confident again (margin 1.5)."""
    return Fingerprint(
        "capital",
        (
            _position(10, [(10, -0.1), (11, -2.1), (12, -3.0)]),
            _position(20, [(20, -0.70), (21, -0.71), (22, -4.0)]),
            _position(30, [(30, -0.2), (31, -1.7)]),
        ),
    )


def _moved(fingerprint: Fingerprint, by: float, at: int | None = None) -> Fingerprint:
    """The same tokens with every logprob (or only position ``at``'s) moved by ``by`` nats."""
    positions = []
    for index, p in enumerate(fingerprint.positions):
        shift = by if at is None or index == at else 0.0
        top = tuple((token, logprob + shift) for token, logprob in p.top)
        positions.append(TokenLogprob(p.token, p.logprob + shift, top, p.text))
    return Fingerprint(fingerprint.prompt, tuple(positions))


def _with(fingerprint: Fingerprint, at: int, position: TokenLogprob) -> Fingerprint:
    positions = list(fingerprint.positions)
    positions[at] = position
    return Fingerprint(fingerprint.prompt, tuple(positions))


def _decode(token: object) -> str:
    return WORDS[token]


def test_the_same_fingerprint_is_identical_with_no_difference():
    drift = compare(_saved(), _saved(), TOLERANCE, _decode)
    assert drift.verdict == IDENTICAL and drift.largest_difference == 0.0
    assert drift.position is None and not drift.fails
    assert drift.line() == "capital: identical, largest logprob difference 0"


def test_float_noise_is_still_identical():
    drift = compare(_saved(), _moved(_saved(), NOISE / 2), TOLERANCE, _decode)
    assert drift.verdict == IDENTICAL and 0 < drift.largest_difference <= NOISE


def test_logprob_differences_up_to_the_tolerance_are_within_tolerance():
    drift = compare(_saved(), _moved(_saved(), 0.03), TOLERANCE, _decode)
    assert drift.verdict == WITHIN_TOLERANCE and not drift.fails
    assert drift.largest_difference == pytest.approx(0.03)
    assert drift.position is None


def test_a_difference_in_an_alternative_alone_counts():
    """Only the runner-up at position 0 moves, beyond the tolerance: the chosen tokens' logprobs agree."""
    saved = _saved()
    first = saved.positions[0]
    now = _with(saved, 0, TokenLogprob(10, -0.1, ((10, -0.1), (11, -2.3), (12, -3.0))))
    drift = compare(saved, now, TOLERANCE, _decode)
    assert drift.verdict == DRIFTED and drift.position is None
    assert drift.largest_difference == pytest.approx(0.2)
    assert first.logprob == now.positions[0].logprob


def test_logprob_differences_beyond_the_tolerance_drift_without_a_position():
    drift = compare(_saved(), _moved(_saved(), 0.2, at=2), TOLERANCE, _decode)
    assert drift.verdict == DRIFTED and drift.fails
    assert drift.largest_difference == pytest.approx(0.2)
    assert drift.position is None and drift.saved_token is None and drift.now_token is None
    assert "first divergence" not in drift.line()


def test_a_changed_token_where_the_saved_margin_was_a_near_tie_is_a_tie_flip():
    saved = _saved()
    flipped = _with(saved, 1, _position(21, [(21, -0.70), (20, -0.705), (22, -4.0)]))
    drift = compare(saved, flipped, TOLERANCE, _decode)
    assert drift.verdict == TIE_FLIP and not drift.fails, "a near tie is reported, not failed"
    assert drift.position == 1 and (drift.saved_token, drift.now_token) == (".", "!")
    assert drift.saved_margin == pytest.approx(0.01)
    assert drift.largest_difference == 0.0, "position 0 agreed exactly"
    assert "first divergence at output token 1: '.' before, '!' now (saved top-2 margin 0.01)" in drift.line()


def test_positions_after_a_tie_flip_are_not_compared():
    """The text after the flip is conditioned on another token: even wildly different logprobs there are
    not a drift."""
    saved = _saved()
    flipped = _with(saved, 1, _position(21, [(21, -0.70), (20, -0.705)]))
    flipped = _with(flipped, 2, _position(31, [(31, -0.01), (30, -9.0)]))
    assert compare(saved, flipped, TOLERANCE, _decode).verdict == TIE_FLIP


def test_a_changed_token_at_a_confident_position_is_drifted_and_says_where_and_how():
    saved = _saved()
    changed = _with(saved, 0, _position(11, [(11, -0.3), (10, -1.5), (12, -3.0)]))
    drift = compare(saved, changed, TOLERANCE, _decode)
    assert drift.verdict == DRIFTED and drift.fails
    assert drift.position == 0 and drift.saved_token == "Paris" and drift.now_token == "London"
    assert drift.saved_margin == pytest.approx(2.0)
    assert drift.line() == (
        "capital: drifted, largest logprob difference 0; first divergence at output token 0: 'Paris' before, "
        "'London' now (saved top-2 margin 2)"
    )


def test_the_token_text_the_engine_gave_is_shown_before_the_decoder():
    saved = _with(_saved(), 0, _position(10, [(10, -0.1), (11, -2.1)], text=" Paris"))
    changed = _with(saved, 0, _position(11, [(11, -0.3), (10, -1.5)], text=" London"))
    drift = compare(saved, changed, TOLERANCE, lambda token: "never used")
    assert (drift.saved_token, drift.now_token) == (" Paris", " London")


def test_a_changed_token_without_a_recorded_margin_is_drifted():
    saved = _with(_saved(), 0, TokenLogprob(10, -0.1, ((10, -0.1),)))
    changed = _with(saved, 0, TokenLogprob(11, -0.1, ((11, -0.1),)))
    drift = compare(saved, changed, TOLERANCE, _decode)
    assert drift.verdict == DRIFTED and drift.saved_margin is None
    assert "(no margin recorded)" in drift.line()


def test_a_near_tie_after_earlier_differences_beyond_the_tolerance_is_drifted_not_a_tie_flip():
    saved = _saved()
    now = _moved(saved, 0.3, at=0)
    now = _with(now, 1, _position(21, [(21, -0.70), (20, -0.705), (22, -4.0)]))
    drift = compare(saved, now, TOLERANCE, _decode)
    assert drift.verdict == DRIFTED, "the model already moved before the flip: rounding does not explain it"
    assert drift.position == 1 and drift.saved_margin == pytest.approx(0.01)
    assert drift.largest_difference == pytest.approx(0.3)


def test_a_near_tie_after_differences_within_the_tolerance_is_still_a_tie_flip():
    saved = _saved()
    now = _moved(saved, 0.02, at=0)
    now = _with(now, 1, _position(21, [(21, -0.70), (20, -0.705), (22, -4.0)]))
    assert compare(saved, now, TOLERANCE, _decode).verdict == TIE_FLIP


@pytest.mark.parametrize("shorter", ["now", "saved"])
def test_a_length_mismatch_is_drifted_at_the_first_missing_position(shorter):
    saved = _saved()
    cut = Fingerprint(saved.prompt, saved.positions[:2])
    before, now = (saved, cut) if shorter == "now" else (cut, saved)
    drift = compare(before, now, TOLERANCE, _decode)
    assert drift.verdict == DRIFTED and drift.position == 2 and drift.saved_margin is None
    assert (drift.saved_token, drift.now_token) == ((" is", ENDED) if shorter == "now" else (ENDED, " is"))


def test_the_summary_line_counts_every_verdict_and_the_largest_difference():
    saved = _saved()
    drifts = [
        compare(saved, saved, TOLERANCE, _decode),
        compare(saved, _moved(saved, 0.03), TOLERANCE, _decode),
        compare(saved, _with(saved, 1, _position(21, [(21, -0.7), (20, -0.705)])), TOLERANCE, _decode),
        compare(saved, _moved(saved, 0.25, at=1), TOLERANCE, _decode),
    ]
    assert summary_line(drifts) == (
        "4 prompt(s): 1 identical, 1 within tolerance, 1 tie flip, 1 drifted; largest logprob difference 0.25"
    )
    assert summary_line([]) == (
        "0 prompt(s): 0 identical, 0 within tolerance, 0 tie flip, 0 drifted; largest logprob difference 0"
    )


def test_a_fingerprint_survives_json_and_compares_identical_after():
    saved = _with(_saved(), 0, _position(10, [(10, -0.1), (11, -2.1)], text=" Paris"))
    data = json.loads(json.dumps(saved.to_dict()))
    assert data["tokens"] == [10, 20, 30] and data["texts"] == [" Paris", None, None]
    assert data["top"][1] == [[20, -0.70], [21, -0.71], [22, -4.0]]
    back = Fingerprint.from_dict(data)
    assert back == saved
    assert compare(saved, back, TOLERANCE, _decode).verdict == IDENTICAL


def test_a_fingerprint_of_text_tokens_without_texts_loads():
    """A server without token ids gives text tokens; a record saved before 'texts' existed still loads."""
    data = {"prompt": "p", "tokens": ["a", "b"], "logprobs": [-0.5, -1], "top": [[["a", -0.5]], [["b", -1]]]}
    back = Fingerprint.from_dict(data)
    assert back.tokens == ["a", "b"] and back.positions[1].logprob == -1.0
    assert all(p.text is None for p in back.positions)
    assert back.to_dict()["texts"] == [None, None]


def test_a_generation_without_logprobs_has_no_fingerprint(engine):
    [result] = engine.generate(["Hello"], SamplingParams(max_new_tokens=2))
    assert result.logprobs is None
    with pytest.raises(ValueError, match="no logprobs"):
        fingerprint_of("hello", result)


# The transformers engine's logprobs on the built-in model.

NEW_TOKENS = 12
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def with_logprobs(engine):
    params = SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True, logprobs=TOP_K)
    [result] = engine.generate([PROMPT], params)
    return result


def test_each_output_token_has_its_logprob_and_sorted_top_k(with_logprobs):
    result = with_logprobs
    assert result.logprobs is not None and len(result.logprobs) == len(result.output_ids) == NEW_TOKENS
    for i, position in enumerate(result.logprobs):
        assert position.token == result.output_ids[i] == position.top[0][0], f"position {i}: greedy is the top token"
        assert len(position.top) == TOP_K
        values = [logprob for _, logprob in position.top]
        assert values == sorted(values, reverse=True), f"position {i}: top not sorted descending"
        assert position.logprob == position.top[0][1] and position.logprob <= 0
        assert len({token for token, _ in position.top}) == TOP_K


def test_logprobs_equal_a_full_forward_pass_log_softmax(engine, with_logprobs):
    prompt_ids = engine.encode(PROMPT)
    generated = with_logprobs.output_ids
    for i in (0, 1, NEW_TOKENS // 2, NEW_TOKENS - 1):
        full = torch.log_softmax(engine.logits(prompt_ids + generated[:i])[-1].float(), dim=-1)
        position = with_logprobs.logprobs[i]
        assert full[generated[i]].item() == pytest.approx(position.logprob, abs=1e-4), f"position {i}"
        for token, logprob in position.top:
            assert full[token].item() == pytest.approx(logprob, abs=1e-4), f"position {i}, token {token}"
        expected = full.topk(TOP_K).values.tolist()
        assert [lp for _, lp in position.top] == pytest.approx(expected, abs=1e-4)


def test_asking_for_logprobs_does_not_change_the_greedy_tokens(engine, with_logprobs):
    [plain] = engine.generate([PROMPT], SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True))
    assert plain.logprobs is None
    assert plain.output_ids == with_logprobs.output_ids and plain.text == with_logprobs.text
    texts = [p.text for p in with_logprobs.logprobs]
    assert texts == [engine.tokenizer.decode([token]) for token in with_logprobs.output_ids]


def test_a_fingerprint_of_a_rerun_is_identical(engine, with_logprobs):
    params = SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True, logprobs=TOP_K)
    [again] = engine.generate([PROMPT], params)
    drift = compare(fingerprint_of("p", with_logprobs), fingerprint_of("p", again), TOLERANCE)
    assert drift.verdict == IDENTICAL, drift.line()
