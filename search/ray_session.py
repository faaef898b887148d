"""Start a local Ray, or attach to a cluster, with the dashboard kept private."""
from __future__ import annotations

import logging
import os
from typing import Optional

logger = logging.getLogger(__name__)

DASHBOARD_HOST = "127.0.0.1"


def start_ray(address: Optional[str] = None) -> str:
    """Attach to `address` (or $RAY_ADDRESS), else start a local Ray; returns the dashboard URL ('' if none).

    A local Ray keeps Ray 2.60's token authentication (on by default) and binds the dashboard to
    127.0.0.1: the dashboard and job API run arbitrary code for whoever reaches them.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        context = ray.init(address=address, log_to_driver=False)
        where = f"attached to the Ray cluster at {address}"
    else:
        context = ray.init(include_dashboard=True, dashboard_host=DASHBOARD_HOST, log_to_driver=False)
        where = "started a local Ray"
    url = context.dashboard_url or ""
    resources = ray.cluster_resources()
    logger.info("ray: %s (%g CPU, %g GPU)", where, resources.get("CPU", 0), resources.get("GPU", 0))
    if url:
        logger.info("dashboard: http://%s  (token authentication: `ray get-auth-token` prints the token; "
                    "for a remote cluster open it through `ray dashboard CLUSTER.yaml` or an SSH tunnel)", url)
    return url
