"""Shared test configuration.

Hypothesis runs with ``deadline=None``: the first example of a test pays
Numba's compile time. ``HYPOTHESIS_PROFILE=thorough`` runs ten times more
examples than the default.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=400,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
