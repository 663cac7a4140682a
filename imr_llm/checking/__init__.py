"""Checking a run: evaluation against labels, the review page, the analyst's report."""
