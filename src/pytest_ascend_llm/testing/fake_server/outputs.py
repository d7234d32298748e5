"""What the fake model says for one request: its output tokens, and at each position the ranked
alternatives with their logprobs, in vLLM's two response formats.

The output is ``t0 t1 …`` (one token per word, each followed by a space), or an arithmetic answer
(``answers``). At position i the alternatives are the output word followed by runner-ups ``<word>~1``,
``<word>~2``, … (skipping any whose fake token id repeats one already there, so ids stay unique). Their
logprobs depend only on the prompt and the position: the top one in [-0.5, -0.01], each next one 1 to 2
lower, so a request always gets the same values and the output token is always the most likely.

``--logprob-jitter X`` moves every value by a seeded amount in [-X, X] (``--logprob-seed`` picks
another draw; the ranking is kept for X below 0.5); ``--flip-after N`` swaps the output token at position
N with its runner-up (the N tokens before it, and all after it, unchanged), as a changed kernel would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.testing.fake_server.answers import answer_words
from pytest_ascend_llm.testing.fake_server.tokens import Tokens, token_id, unit

MAX_LOGPROBS = 20  # vLLM's default --max-logprobs: the most alternatives a request may ask for
TOKEN_ID_PREFIX = "token_id:"  # vLLM's return_tokens_as_token_ids form


def ranked_words(word: str, count: int) -> list[str]:
    """``word`` and its runner-ups, ``count`` in all, with distinct token ids (the same list prefix for
    any count)."""
    words, ids, rank = [word], {token_id(word)}, 1
    while len(words) < count:
        candidate = f"{word}~{rank}"
        rank += 1
        if token_id(candidate) not in ids:
            words.append(candidate)
            ids.add(token_id(candidate))
    return words


@dataclass(frozen=True)
class Output:
    """The output tokens of one request (``natural``: before any flip) and how they end."""

    natural: tuple[str, ...]
    finish_reason: str
    key: str  # the prompt, which the logprobs depend on
    flip: int | None = None
    jitter: float = 0.0
    seed: int = 0

    def __len__(self) -> int:
        return len(self.natural)

    def word(self, index: int) -> str:
        natural = self.natural[index]
        return ranked_words(natural, 2)[1] if index == self.flip else natural

    def text(self, start: int, stop: int) -> str:
        """The text of output tokens ``start`` to ``stop - 1``, each followed by a space."""
        return "".join(f"{self.word(i)} " for i in range(start, stop))

    def ranked(self, index: int, count: int) -> list[tuple[str, float]]:
        """(word, logprob) of the ``count`` most likely tokens at ``index``, most likely first."""
        words = ranked_words(self.natural[index], max(count, 2 if index == self.flip else 1))
        if index == self.flip:
            words[0], words[1] = words[1], words[0]
        values, value = [], -(0.01 + 0.49 * unit(self.key, index, 0))
        for rank in range(count):
            if rank:
                value -= 1.0 + unit(self.key, index, rank)
            shift = self.jitter * (2 * unit("jitter", self.seed, self.key, index, rank) - 1) if self.jitter else 0.0
            values.append(min(0.0, value + shift))
        return list(zip(words, values))


def plan_output(prompt: Tokens, kind: str, max_tokens: int, ignore_eos: bool, options: Any) -> Output:
    """The request's output: ``t{i}`` up to max_tokens, or (with --answer-accuracy, for a text prompt
    with a question) the answer, which stops there unless ignore_eos makes it run on to max_tokens."""
    key = " ".join(map(str, prompt))
    natural, finish = tuple(f"t{i}" for i in range(max_tokens)), "length"
    asks = options.answer_accuracy is not None and kind == "words"
    answer = answer_words(key, options.answer_accuracy) if asks else None
    if answer is not None:
        if ignore_eos:
            natural = (answer + natural[len(answer) :])[:max_tokens]
        else:
            natural, finish = answer[:max_tokens], "stop" if len(answer) <= max_tokens else "length"
    return Output(natural, finish, key, options.flip_after, options.logprob_jitter, options.logprob_seed)


def _token(word: str, as_ids: bool) -> str:
    return f"{TOKEN_ID_PREFIX}{token_id(word)}" if as_ids else f"{word} "


def completion_logprobs(output: Output, start: int, stop: int, top: int, as_ids: bool) -> dict[str, Any]:
    """vLLM's CompletionLogProbs for tokens ``start`` to ``stop - 1``: parallel lists, and per token a
    dict of the chosen token and the ``top`` most likely (one entry for logprobs 0)."""
    offset = len(output.text(0, start))
    tokens, values, tops, offsets = [], [], [], []
    for index in range(start, stop):
        ranked = output.ranked(index, max(top, 1))
        tokens.append(_token(ranked[0][0], as_ids))
        values.append(ranked[0][1])
        tops.append({_token(word, as_ids): value for word, value in ranked})
        offsets.append(offset)
        offset += len(ranked[0][0]) + 1
    return {"text_offset": offsets, "token_logprobs": values, "tokens": tokens, "top_logprobs": tops}


def chat_logprobs(output: Output, start: int, stop: int, top: int, as_ids: bool) -> dict[str, Any]:
    """vLLM's ChatCompletionLogProbs for tokens ``start`` to ``stop - 1``: ``content`` entries with the
    token, its logprob and bytes, and exactly ``top`` alternatives."""

    def entry(word: str, value: float) -> dict[str, Any]:
        token = _token(word, as_ids)
        return {"token": token, "logprob": value, "bytes": list(token.encode("utf-8"))}

    content = []
    for index in range(start, stop):
        ranked = output.ranked(index, max(top, 1))
        content.append(entry(*ranked[0]) | {"top_logprobs": [entry(*pair) for pair in ranked[:top]]})
    return {"content": content}
