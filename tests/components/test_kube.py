"""components/kube.py: Checkov suppressions reach a manifest only as CheckovSkip, with a reason
in the one format Checkov reads (its use is checked end to end in tests/test_checkov.py)."""

from __future__ import annotations

import pytest

from components import kube


def test_skips_are_numbered_annotations_holding_check_and_reason() -> None:
    skips = [
        kube.CheckovSkip("CKV_K8S_43", "digest known after the build"),
        kube.CheckovSkip("CKV2_K8S_6", "a reason: with a colon"),
    ]
    assert kube.checkov_annotations(skips) == {
        "checkov.io/skip1": "CKV_K8S_43=digest known after the build",
        "checkov.io/skip2": "CKV2_K8S_6=a reason: with a colon",
    }


def test_metadata_merges_skips_into_the_other_annotations() -> None:
    metadata = kube.metadata(
        "orders",
        "micromart",
        annotations={"example.com/owner": "team"},
        checkov_skips=[kube.CheckovSkip("CKV_K8S_43", "why")],
    )
    assert metadata.annotations == {
        "example.com/owner": "team",
        "checkov.io/skip1": "CKV_K8S_43=why",
    }
    assert kube.metadata("orders", "micromart").annotations is None


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ("CKV_AZURE_1", "not a Kubernetes check"),
        ("ckv_k8s_43", "lower case is not an id"),
        ("CKV_K8S_43", ""),
        ("CKV_K8S_43", "   "),
        # Checkov splits the value on every "=": this one would crash its parser.
        ("CKV_K8S_43", "tag=v1 is deliberate"),
        ("CKV_K8S_43", "two\nlines"),
    ],
)
def test_a_skip_without_a_usable_id_or_reason_is_refused(check: str, reason: str) -> None:
    with pytest.raises(ValueError):
        kube.CheckovSkip(check, reason)


def test_a_check_suppressed_twice_is_refused() -> None:
    skip = kube.CheckovSkip("CKV_K8S_43", "why")
    with pytest.raises(ValueError, match="twice"):
        kube.checkov_annotations([skip, kube.CheckovSkip("CKV_K8S_43", "again")])


def test_an_ad_hoc_skip_annotation_is_refused() -> None:
    with pytest.raises(ValueError, match="CheckovSkip"):
        kube.metadata("orders", "micromart", annotations={"checkov.io/skip1": "CKV_K8S_43=x"})
