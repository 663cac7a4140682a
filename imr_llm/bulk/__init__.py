"""Scale: thousands of letters concurrently, resumable output, worker processes, tables."""
