"""The OpenAI Batch API path: prepare requests, submit, collect checked rows."""
