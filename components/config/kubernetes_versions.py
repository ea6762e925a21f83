"""Which Kubernetes minors AKS still creates clusters on, and which the Istio add-on supports.

AKS refuses new clusters on a minor past its end of life on the Free and Standard tiers; only
Premium clusters on the `AKSLongTermSupport` plan keep a minor for another year, and this program
sets no support plan. The Istio add-on supports each `asm-*` revision on a fixed range of minors.

Sources (month granularity, as published):
- AKS release calendar, https://learn.microsoft.com/azure/aks/supported-kubernetes-versions
  ("AKS Kubernetes release calendar": AKS GA, end of life, LTS end), and
  https://learn.microsoft.com/azure/aks/long-term-support (LTS needs the Premium tier).
- Istio add-on support policy, https://learn.microsoft.com/azure/aks/istio-support-policy
  ("Service mesh add-on release calendar": revision, AKS versions supported).
Checked 2026-11-30: 1.33 reached end of life in July 2026, 1.35 and 1.36 are supported,
asm-1-30 supports 1.32 to 1.36. The rows after 1.36 are the calendar's announced dates; update
the table (with its source) when Microsoft publishes a change, never the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class AksMinor:
    ga: date
    # The first day AKS no longer supports the minor: a month given as the end of life counts
    # from its first day, so the check never approves a version in its final weeks by accident.
    end_of_life: date
    lts_until: date


AKS_MINORS: dict[str, AksMinor] = {
    "1.30": AksMinor(date(2024, 7, 1), date(2025, 7, 1), date(2026, 7, 1)),
    "1.31": AksMinor(date(2024, 10, 1), date(2025, 11, 1), date(2026, 11, 1)),
    "1.32": AksMinor(date(2025, 3, 1), date(2026, 3, 1), date(2027, 4, 1)),
    "1.33": AksMinor(date(2025, 6, 1), date(2026, 7, 1), date(2027, 6, 1)),
    "1.34": AksMinor(date(2025, 11, 1), date(2026, 11, 1), date(2027, 11, 1)),
    "1.35": AksMinor(date(2026, 3, 1), date(2027, 3, 1), date(2028, 3, 1)),
    "1.36": AksMinor(date(2026, 6, 1), date(2027, 7, 1), date(2028, 7, 1)),
    "1.37": AksMinor(date(2027, 1, 1), date(2028, 1, 1), date(2029, 1, 1)),
}

# Istio add-on revision -> (oldest, newest) Kubernetes minor it is supported on.
ISTIO_REVISION_MINORS: dict[str, tuple[str, str]] = {
    "asm-1-30": ("1.32", "1.36"),
}


def _minor_number(version: str) -> int:
    return int(version.split(".")[1])


def check_aks_version(version: str, today: date) -> None:
    """Raise ValueError when AKS would not create a cluster on `version` at `today`."""
    minor = AKS_MINORS.get(version)
    if minor is None:
        known = ", ".join(AKS_MINORS)
        raise ValueError(
            f"'{version}' is not in the AKS version table (known: {known}); add it with its "
            "source in components/config/kubernetes_versions.py"
        )
    supported = _supported(today)
    if today < minor.ga:
        raise ValueError(
            f"'{version}' is not generally available on AKS until {minor.ga:%B %Y} "
            f"(supported on {today}: {supported})"
        )
    if today >= minor.end_of_life:
        raise ValueError(
            f"'{version}' reached end of life on AKS in {minor.end_of_life:%B %Y}; new clusters "
            f"are refused (long-term support until {minor.lts_until:%B %Y} needs the Premium "
            f"tier and the AKSLongTermSupport plan, which this program does not set); "
            f"supported on {today}: {supported}"
        )


def check_istio_revision(revision: str, version: str) -> None:
    """Raise ValueError when the add-on revision is not supported on the cluster's minor."""
    span = ISTIO_REVISION_MINORS.get(revision)
    if span is None:
        known = ", ".join(ISTIO_REVISION_MINORS)
        raise ValueError(
            f"'{revision}' is not in the Istio add-on table (known: {known}); add it with its "
            "source in components/config/kubernetes_versions.py"
        )
    oldest, newest = span
    if not _minor_number(oldest) <= _minor_number(version) <= _minor_number(newest):
        raise ValueError(
            f"Istio add-on revision {revision} supports Kubernetes {oldest} to {newest}, "
            f"not {version}"
        )


def _supported(today: date) -> str:
    return ", ".join(
        version for version, minor in AKS_MINORS.items() if minor.ga <= today < minor.end_of_life
    )
