"""Connecting to Ray: the cluster of a `ray job submit`, an address given, or an embedded local instance."""

from __future__ import annotations

import os

from loguru import logger


def connect_or_start(num_cpus: int | None = None) -> str:
    """Join the cluster named by RAY_ADDRESS (set by `ray job submit`), else start an embedded local Ray."""
    import ray

    if ray.is_initialized():
        return "already initialized"
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        where = f"Ray cluster at {address}"
    else:
        # Embedded: a private local instance that ends with this process. address="local" so that a cluster some
        # one else started on this machine is never joined by accident. No dashboard: nothing to serve.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
        where = "embedded local Ray"
    logger.info(f"using {where}: {ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    return where


def in_ray_job_copy() -> bool:
    """True when running in the copy of a working dir that `ray job submit --working-dir` made."""
    return "runtime_resources" in os.getcwd() and "working_dir_files" in os.getcwd()
