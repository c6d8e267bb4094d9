"""Connecting to Ray: the cluster of a `ray job submit`, an address given, or an embedded local instance."""

from __future__ import annotations

import os
import secrets

from loguru import logger

# Ray's token authentication settings; any of them set by the user means the user chose, and we leave them be.
RAY_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def use_private_auth_token() -> bool:
    """Token authentication for an embedded Ray, with a token that lives in this process's environment only.

    Why: since Ray 2.5x a ray.init() that starts a new local cluster with RAY_AUTH_MODE unset turns token auth on
    and, when no token is found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token), writes a fresh one to
    ~/.ray/auth_token (ray/_private/worker.py init -> enable_token_auth_by_default, ensure_token_if_auth_enabled).
    That file outlives the embedded instance, and from then on `ray start --head` finds it and enables token auth
    for the new cluster, while a plain `ray job submit` (RAY_AUTH_MODE unset, so it sends no token) gets "401
    Unauthorized: Missing authentication token".

    Choice: keep token auth on (the embedded instance listens on the node's address, not only loopback, so
    RAY_AUTH_MODE=disabled would let anyone on the network run code in it) but hand Ray a random token through
    RAY_AUTH_TOKEN, which Ray reads before ~/.ray/auth_token and never writes to disk. Ray's own processes and
    workers inherit it from this environment; nothing is left in $HOME, and the token dies with the instance.
    Returns False, changing nothing, when the user set any RAY_AUTH_* variable (their setup wins)."""
    if any(name in os.environ for name in RAY_AUTH_ENV):
        return False
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    os.environ["RAY_AUTH_MODE"] = "token"
    # RayConfig caches RAY_AUTH_MODE when ray is first imported: re-read it, as Ray's own _enable_token_auth does.
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    return True


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
        # one else started on this machine is never joined by accident. No dashboard: nothing to serve. Token auth
        # with a token kept in this process's environment, not in ~/.ray/auth_token: see use_private_auth_token.
        use_private_auth_token()
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
        where = "embedded local Ray"
    logger.info(f"using {where}: {ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    return where


def in_ray_job_copy() -> bool:
    """True when running in the copy of a working dir that `ray job submit --working-dir` made."""
    return "runtime_resources" in os.getcwd() and "working_dir_files" in os.getcwd()
