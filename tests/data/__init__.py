"""Test data: the bad-input corpus (:mod:`tests.data.corpus`)."""
