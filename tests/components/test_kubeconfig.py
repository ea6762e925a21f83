"""The cluster's kubeconfig logs in with an explicit kubelogin method, not AKS's device code."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.kubeconfig import AZURE_CLI_LOGIN, with_login
from tests.synthesis import only
from tools.mocks import AKS_AAD_SERVER_APP
from tools.synth import SynthResult

AKS_ISSUED = {
    "apiVersion": "v1",
    "kind": "Config",
    "users": [
        {
            "name": "clusterUser",
            "user": {
                "exec": {
                    "command": "kubelogin",
                    "args": [
                        "get-token",
                        "--login",
                        "devicecode",
                        "--server-id",
                        "server-app",
                        "--client-id",
                        "client-app",
                        "--tenant-id",
                        "tenant",
                        "--environment",
                        "AzurePublicCloud",
                    ],
                }
            },
        },
        {"name": "other", "user": {"token": "unchanged"}},
    ],
}


def exec_args(kubeconfig: str) -> list[list[str]]:
    document: dict[str, Any] = yaml.safe_load(kubeconfig)
    return [u["user"]["exec"]["args"] for u in document["users"] if "exec" in u["user"]]


def test_the_providers_kubeconfig_uses_the_azure_cli_session(result: SynthResult) -> None:
    provider = only(result, "pulumi:providers:kubernetes")
    assert exec_args(provider.plain_inputs()["kubeconfig"]) == [
        ["get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_APP]
    ]


def test_rewrite_keeps_the_server_app_and_drops_the_device_code_app() -> None:
    rewritten = yaml.safe_load(with_login(yaml.safe_dump(AKS_ISSUED), AZURE_CLI_LOGIN))
    assert exec_args(yaml.safe_dump(rewritten)) == [
        ["get-token", "--login", "azurecli", "--server-id", "server-app"]
    ]
    assert rewritten["users"][1] == AKS_ISSUED["users"][1]


def test_a_kubeconfig_without_server_id_is_refused() -> None:
    broken = yaml.safe_load(yaml.safe_dump(AKS_ISSUED))
    broken["users"][0]["user"]["exec"]["args"] = ["get-token", "--login", "devicecode"]
    with pytest.raises(ValueError, match="no --server-id"):
        with_login(yaml.safe_dump(broken), AZURE_CLI_LOGIN)
