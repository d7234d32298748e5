"""Greedy speculative decoding: a proposer guesses up to k tokens, the target verifies them in one
forward pass and keeps the longest agreeing prefix plus its own next token. Output equals plain greedy
decoding (up to floating-point ties); every count comes from the real run."""

from __future__ import annotations

from collections.abc import Callable

from pytest_ascend_llm.engines.base import SpeculativeStats
from pytest_ascend_llm.engines.hf_forward import crop_cache, greedy_forward
from pytest_ascend_llm.metrics.timing import TokenChunk
from pytest_ascend_llm.torch_backend import torch


class DraftModelProposer:
    """A small model sharing the tokenizer proposes greedily, with its own KV cache kept in step."""

    def __init__(self, model, device: torch.device) -> None:
        from transformers import DynamicCache

        self.model, self.device = model, device
        self.cache = DynamicCache()

    def propose(self, tokens: list[int], count: int) -> list[int]:
        proposal: list[int] = []
        feed = tokens[self.cache.get_seq_length() :]
        for _ in range(count):
            ids = torch.tensor([feed], device=self.device)
            proposal.append(int(greedy_forward(self.model, ids, self.cache)[0, -1]))
            feed = proposal[-1:]
        return proposal

    def accepted(self, context_length: int) -> None:
        """Forget cached tokens the target rejected."""
        crop_cache(self.cache, context_length)


class NgramProposer:
    """Prompt lookup: find the latest earlier occurrence of the last n tokens and propose what followed."""

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1) -> None:
        self.max_ngram, self.min_ngram = max_ngram, min_ngram

    def propose(self, tokens: list[int], count: int) -> list[int]:
        for n in range(self.max_ngram, self.min_ngram - 1, -1):
            if count == 0 or len(tokens) <= n:
                continue
            pattern = tokens[-n:]
            for start in range(len(tokens) - n - 1, -1, -1):
                if tokens[start : start + n] == pattern:
                    follow = tokens[start + n : start + n + count]
                    if follow:
                        return follow
        return []

    def accepted(self, context_length: int) -> None:
        """Stateless: nothing to roll back."""


def speculative_greedy(
    model,
    prompt: list[int],
    cache,
    first_token: int,
    proposer,
    num_tokens: int,
    max_new_tokens: int,
    stop: Callable[[list[int]], int | None],
    now: Callable[[], float],
    start: float,
    first_time: float,
) -> tuple[list[int], list[TokenChunk], SpeculativeStats]:
    """Decode after a prefill whose KV (``cache``) covers ``prompt`` and produced ``first_token``.
    ``stop`` returns the index of a stop token in the output, or None."""
    device = next(model.parameters()).device
    output, chunks, stats = [first_token], [TokenChunk(first_time, 1)], SpeculativeStats()
    context = list(prompt)  # tokens whose KV the target holds; output[-1] is not among them yet
    while len(output) < max_new_tokens and stop(output) is None:
        count = min(num_tokens, max_new_tokens - len(output) - 1)
        proposal = proposer.propose(context + output[-1:], count) if count > 0 else []
        ids = torch.tensor([output[-1:] + proposal], device=device)
        verdict = greedy_forward(model, ids, cache, keep=ids.shape[1])[0].tolist()
        agreed = 0
        while agreed < len(proposal) and proposal[agreed] == verdict[agreed]:
            agreed += 1
        context += output[-1:] + proposal[:agreed]
        crop_cache(cache, len(context))
        proposer.accepted(len(context))
        new_tokens = proposal[:agreed] + [verdict[agreed]]
        output += new_tokens
        chunks.append(TokenChunk(now() - start, len(new_tokens)))
        stats.verify_steps += 1
        stats.proposed += len(proposal)
        stats.accepted += agreed
    return output, chunks, stats
