"""Online serving: the OpenAI-compatible streaming client, load generation, SLO goodput, and launched servers."""
