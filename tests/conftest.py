"""Shared test settings.

- hypothesis: a bounded number of examples and no per-example deadline (CI has 2 slow
  cores); ``HYPOTHESIS_PROFILE=thorough`` runs more examples locally.
- torch (when a test imports it) uses one thread per xdist worker so that two workers
  do not fight over the two cores.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", max_examples=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
