"""What the model says, kept so two runs can be compared: per-prompt output fingerprints (greedy tokens
with their logprobs and top alternatives) and the drift verdicts between two of them."""
