"""The MicroMart CrossGuard rules, grouped by concern; ALL_POLICIES is what the pack serves.

This package is imported as `rules` by the engine (which runs policy/__main__.py with the pack
directory on sys.path) and as `policy.rules` by the tests, so modules import each other relatively.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    azure,
    cluster_control,
    istio,
    networking,
    pod_security,
    rbac,
    resilience,
    secrets,
    workloads,
)

ALL_POLICIES: tuple[Policy, ...] = (
    *workloads.POLICIES,
    *pod_security.POLICIES,
    *networking.POLICIES,
    *resilience.POLICIES,
    *azure.POLICIES,
    *istio.POLICIES,
    *rbac.POLICIES,
    *secrets.POLICIES,
    *cluster_control.POLICIES,
)

__all__ = ["ALL_POLICIES"]
