"""The test suite (helpers in ``tests.support``)."""
