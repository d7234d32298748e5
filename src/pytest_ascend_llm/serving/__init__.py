"""Online serving: OpenAI-compatible endpoints, load generation, and a test server with exact timing."""
