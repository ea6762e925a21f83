"""Deterministic stand-ins for what Azure, Docker and the random provider would return.

Only outputs the program reads are faked; everything else echoes the inputs. Values derive from
names and inputs (never from time or randomness) so two runs write byte-identical plans.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from components.build_context import content_digest
from tools.recorder import SECRET_SIG, SIG_KEY

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _fake_uuid(seed: str) -> str:
    h = _digest(seed)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def arm_id(resource_group: str, provider_type: str, name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}"
        f"/providers/{provider_type}/{name}"
    )


class SynthMocks(Mocks):
    def __init__(self, project_dir: Path) -> None:
        self._project_dir = project_dir

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        handler = _OUTPUTS.get(args.typ)
        state = dict(args.inputs)
        if args.typ.startswith("azure-native:"):
            state.setdefault("name", _arm_name(args))
        if handler is not None:
            state.update(handler(self, args))
        # Azure resources are addressed by their ARM ID; everything else by a stable fake.
        return str(state.get("id") or _resource_id(args)), state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            kubeconfig = {"name": "clusterUser", "value": _kubeconfig(args.args)}
            return {"kubeconfigs": [kubeconfig]}, []
        if args.token == "azure-native:authorization:getClientConfig":
            client = {
                "clientId": _fake_uuid("client"),
                "objectId": _fake_uuid("object"),
                "subscriptionId": SUBSCRIPTION,
                "tenantId": TENANT,
            }
            return client, []
        return {}, []

    def docker_image(self, args: MockResourceArgs) -> dict[str, Any]:
        image_name = str(args.inputs.get("imageName", args.name))
        build = args.inputs.get("build") or {}
        context = self._project_dir / str(build.get("context", ""))
        repository = image_name.rsplit(":", 1)[0]
        digest = _digest(image_name, content_digest(context), json.dumps(build, sort_keys=True))
        return {
            "repoDigest": f"{repository}@sha256:{digest}",
            "baseImageName": image_name,
        }


def _resource_id(args: MockResourceArgs) -> str:
    return f"{args.name}-id"


# Input keys that name a parent rather than the resource itself.
_PARENT_NAME_KEYS = {"resourceGroupName", "serverName", "privateZoneName", "virtualNetworkName"}


def _arm_name(args: MockResourceArgs) -> str:
    """Azure echoes the resource's own name; it is whichever `*Name` input is not a parent's."""
    own = [key for key in args.inputs if key.endswith("Name") and key not in _PARENT_NAME_KEYS]
    for key in own or [key for key in args.inputs if key.endswith("Name")]:
        if key != "resourceGroupName" or args.typ.endswith(":ResourceGroup"):
            return str(args.inputs[key])
    return args.name


def _registry(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs["registryName"]
    return {
        "loginServer": f"{name}.azurecr.io",
        "id": arm_id(
            args.inputs.get("resourceGroupName", "rg"),
            "Microsoft.ContainerRegistry/registries",
            name,
        ),
    }


def _cluster(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs["resourceName"]
    return {
        "name": name,
        "fqdn": f"{name}-dns.hcp.westeurope.azmk8s.io",
        "identityProfile": {
            "kubeletidentity": {
                "objectId": _fake_uuid(f"{name}-kubelet"),
                "clientId": _fake_uuid(f"{name}-kubelet-client"),
                "resourceId": f"{name}-kubelet-identity",
            }
        },
        "oidcIssuerProfile": {
            "enabled": True,
            "issuerURL": f"https://oidc.example/{name}/",
        },
        "identity": {
            "type": "SystemAssigned",
            "principalId": _fake_uuid(f"{name}-identity"),
            "tenantId": TENANT,
        },
        "id": arm_id(
            args.inputs.get("resourceGroupName", "rg"),
            "Microsoft.ContainerService/managedClusters",
            name,
        ),
    }


def _postgres(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs["serverName"]
    return {
        "fullyQualifiedDomainName": f"{name}.postgres.database.azure.com",
        "id": arm_id(
            args.inputs.get("resourceGroupName", "rg"),
            "Microsoft.DBforPostgreSQL/flexibleServers",
            name,
        ),
    }


def _arm_child(provider_type: str, key: str) -> Any:
    def outputs(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
        group = args.inputs.get("resourceGroupName", "rg")
        return {"id": arm_id(group, provider_type, str(args.inputs.get(key, args.name)))}

    return outputs


def _secret(value: Any) -> dict[str, Any]:
    # The real provider marks these outputs secret (additional_secret_outputs), which mocks skip;
    # returning them in the wire format's secret envelope keeps them secret downstream.
    return {SIG_KEY: SECRET_SIG, "value": value}


def _random_password(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    length = int(args.inputs.get("length", 32))
    return {"result": _secret(_digest("password", args.name)[:length])}


def _random_bytes(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    raw = bytes.fromhex(_digest("bytes", args.name))[: int(args.inputs.get("length", 32))]
    return {
        "base64": _secret(base64.b64encode(raw).decode()),
        "hex": _secret(raw.hex()),
    }


def _kubeconfig(call_args: dict[str, Any]) -> str:
    name = call_args.get("resourceName", "cluster")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": f"https://{name}.example:443"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "clusterUser"}}],
        "current-context": name,
        "users": [
            {
                "name": "clusterUser",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": ["get-token", "--login", "azurecli"],
                    }
                },
            }
        ],
    }
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


_OUTPUTS = {
    "azure-native:containerregistry:Registry": _registry,
    "azure-native:containerservice:ManagedCluster": _cluster,
    "azure-native:dbforpostgresql:Server": _postgres,
    "azure-native:resources:ResourceGroup": _arm_child(
        "Microsoft.Resources/resourceGroups", "resourceGroupName"
    ),
    "azure-native:network:VirtualNetwork": _arm_child(
        "Microsoft.Network/virtualNetworks", "virtualNetworkName"
    ),
    "azure-native:network:Subnet": _arm_child("Microsoft.Network/subnets", "subnetName"),
    "azure-native:privatedns:PrivateZone": _arm_child(
        "Microsoft.Network/privateDnsZones", "privateZoneName"
    ),
    "azure-native:managedidentity:UserAssignedIdentity": _arm_child(
        "Microsoft.ManagedIdentity/userAssignedIdentities", "resourceName"
    ),
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomBytes:RandomBytes": _random_bytes,
    "docker:index/image:Image": SynthMocks.docker_image,
}
