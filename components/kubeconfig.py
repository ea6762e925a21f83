"""The kubelogin login method of the cluster's kubeconfig, chosen here rather than left to AKS.

With Entra ID and local accounts disabled, AKS returns an exec kubeconfig that runs
`kubelogin get-token --login devicecode ...`: device code is kubelogin's default
(Azure/kubelogin pkg/internal/token/options.go, `NewOptions`). Inside `pulumi up` the Kubernetes
provider runs that plugin itself, where nobody sees the device-code prompt and the update waits.
So the program rewrites the user's exec arguments the way `kubelogin convert-kubeconfig -l
azurecli` does (pkg/internal/converter/convert.go: `get-token --login azurecli --server-id
<id>`; the tenant and client of the device-code app are dropped): kubelogin then reuses the
`az login` session, on a workstation and in CI alike. `AAD_LOGIN_METHOD` still overrides it:
`get-token` reads it after parsing its flags (pkg/cmd/token.go, `UpdateFromEnv`), e.g.
`workloadidentity` with a federated token.
"""

from __future__ import annotations

from typing import Any

import yaml

AZURE_CLI_LOGIN = "azurecli"
_GET_TOKEN = "get-token"


def with_login(kubeconfig: str, method: str) -> str:
    """`kubeconfig` with every kubelogin user logging in by `method`."""
    document = yaml.safe_load(kubeconfig)
    for user in document.get("users") or []:
        exec_config = (user.get("user") or {}).get("exec")
        if exec_config and "kubelogin" in str(exec_config.get("command", "")):
            exec_config["args"] = _login_args(list(exec_config.get("args") or []), method)
    return str(yaml.safe_dump(document, sort_keys=False))


def _login_args(args: list[Any], method: str) -> list[str]:
    server_id = _flag(args, "--server-id")
    if server_id is None:
        # Every login method needs the cluster's server application; AKS always sets it.
        raise ValueError("kubeconfig: kubelogin exec arguments carry no --server-id")
    return [_GET_TOKEN, "--login", method, "--server-id", server_id]


def _flag(args: list[Any], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return str(args[index + 1])
        if isinstance(arg, str) and arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None
