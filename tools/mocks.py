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
from pulumi.runtime.rpc import UNKNOWN

from components.build_context import content_digest
from tools import keda_crds, secrets_store_crds
from tools.istio_crds import crd_documents
from tools.opaque import UNRENDERABLE_INVOKES, decode_yaml
from tools.recorder import SECRET_SIG, SIG_KEY

# The Entra ID applications every AKS-managed-AAD kubeconfig names.
AKS_AAD_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
AKS_AAD_CLIENT_APP = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
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
    """`preview`: every resource is a create on a new stack, as `pulumi preview` sees it."""

    def __init__(self, project_dir: Path, *, preview: bool = False) -> None:
        self._project_dir = project_dir
        self._preview = preview

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == CRD_TYPE and args.resource_id:
            return self._read_crd(args)
        resource_id, state = self._created(args)
        if not self._preview:
            return resource_id, state
        # A create at preview has no ID yet, and the provider returns its inputs with every
        # other output unknown (pulumi-azure-native provider.go `Create`: "Calculate the preview
        # of outputs using the current inputs and marking all other response properties as
        # computed"; pulumi-kubernetes returns the checked inputs). Invokes whose arguments are
        # unknown are skipped by the SDK itself (pulumi/runtime/invoke.py), as the engine does.
        return None, preview_state(args.inputs, state)

    def _read_crd(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """`CustomResourceDefinition.get`: the cluster has its add-ons' CRDs only (Istio, KEDA,
        the Key Vault Secrets Provider's Secrets Store CSI driver)."""
        name = str(args.resource_id)
        if self._preview:
            # On a new stack the provider is unknown at preview: the engine reads nothing.
            return None, {}
        crd = (
            crd_documents().get(name)
            or keda_crds.crd_documents().get(name)
            or secrets_store_crds.crd_documents().get(name)
        )
        if crd is None:
            # What the engine reports when a read finds nothing (pulumi/pulumi
            # pkg/resource/deploy/step.go, ReadStep.Apply).
            raise ValueError(f"resource '{name}' does not exist")
        established = {"type": "Established", "status": "True"}
        return name, {**crd, "status": {"conditions": [established]}}

    def _created(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        arm = _ARM_TYPES.get(args.typ)
        if arm is not None:
            # Azure echoes the resource's own name and addresses it by its ARM ID.
            provider_type, name_key = arm
            name = str(args.inputs.get(name_key, args.name))
            group = str(args.inputs.get("resourceGroupName", "rg"))
            state.update(name=name, id=arm_id(group, provider_type, name))
        handler = _OUTPUTS.get(args.typ)
        if handler is not None:
            state.update(handler(self, args))
        return str(state.get("id") or f"{args.name}-id"), state

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
        if args.token == "kubernetes:yaml:decode":
            # yaml.ConfigFile/ConfigGroup (v1) register their children from this answer.
            return {"result": decode_yaml(str(args.args.get("text", "")))}, []
        if args.token in UNRENDERABLE_INVOKES:
            return {"result": []}, []  # listed as not checked in policy.json
        return {}, []

    def docker_image(self, args: MockResourceArgs) -> dict[str, Any]:
        image_name = str(args.inputs.get("imageName", args.name))
        build = args.inputs.get("build") or {}
        context = self._project_dir / str(build.get("context", ""))
        dockerfile = build.get("dockerfile")
        inputs = content_digest(context, self._project_dir / dockerfile if dockerfile else None)
        repository = image_name.rsplit(":", 1)[0]
        digest = _digest(image_name, inputs, json.dumps(build, sort_keys=True))
        return {
            "repoDigest": f"{repository}@sha256:{digest}",
            "baseImageName": image_name,
        }


def preview_state(inputs: dict[str, Any], created: dict[str, Any]) -> dict[str, Any]:
    """Inputs stay known; whatever the provider would compute or change becomes unknown."""
    state = dict(inputs)
    for key, value in created.items():
        if key not in inputs or inputs[key] != value:
            state[key] = UNKNOWN
    return state


# Type token -> (ARM provider type, input holding the resource's own name).
_ARM_TYPES = {
    "azure-native:resources:ResourceGroup": (
        "Microsoft.Resources/resourceGroups",
        "resourceGroupName",
    ),
    "azure-native:network:VirtualNetwork": (
        "Microsoft.Network/virtualNetworks",
        "virtualNetworkName",
    ),
    "azure-native:privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones", "privateZoneName"),
    "azure-native:privatedns:VirtualNetworkLink": (
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "virtualNetworkLinkName",
    ),
    "azure-native:containerregistry:Registry": (
        "Microsoft.ContainerRegistry/registries",
        "registryName",
    ),
    "azure-native:containerservice:ManagedCluster": (
        "Microsoft.ContainerService/managedClusters",
        "resourceName",
    ),
    "azure-native:dbforpostgresql:Server": (
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "serverName",
    ),
    "azure-native:dbforpostgresql:Database": (
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        "databaseName",
    ),
    "azure-native:dbforpostgresql:Configuration": (
        "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
        "configurationName",
    ),
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName"),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "resourceName",
    ),
}


def _registry(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"loginServer": f"{args.inputs['registryName']}.azurecr.io"}


def _cluster(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs["resourceName"]
    return {
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
    }


def _postgres(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"fullyQualifiedDomainName": f"{args.inputs['serverName']}.postgres.database.azure.com"}


def _vault(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    properties = dict(args.inputs.get("properties") or {})
    properties["vaultUri"] = f"https://{args.inputs['vaultName']}.vault.azure.net/"
    return {"properties": properties}


def _vault_secret(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    # A secret's ARM ID is nested under its vault's; the Secrets User role is scoped to it.
    vault = args.inputs["vaultName"]
    secret = args.inputs["secretName"]
    group = str(args.inputs.get("resourceGroupName", "rg"))
    secret_id = arm_id(group, "Microsoft.KeyVault/vaults", f"{vault}/secrets/{secret}")
    return {"id": secret_id, "name": secret}


def _user_assigned_identity(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs["resourceName"]
    return {
        "clientId": _fake_uuid(f"{name}-client"),
        "principalId": _fake_uuid(f"{name}-principal"),
        "tenantId": TENANT,
    }


def _secret(value: Any) -> dict[str, Any]:
    # The real provider marks these outputs secret (additional_secret_outputs), which mocks skip;
    # returning them in the wire format's secret envelope keeps them secret downstream.
    return {SIG_KEY: SECRET_SIG, "value": value}


def generated_password(resource_name: str, length: int = 32) -> str:
    """The `result` a RandomPassword of this name and length has under these mocks.

    Tests that log in to a real server with a synthesized user (tests/integration) use it.
    """
    return _digest("password", resource_name)[:length]


def _random_password(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    length = int(args.inputs.get("length", 32))
    return {"result": _secret(generated_password(args.name, length))}


def _random_id(_: SynthMocks, args: MockResourceArgs) -> dict[str, Any]:
    # As pulumi_random's RandomId: the same bytes as hex, base64 (std/url) and decimal.
    raw = bytes.fromhex(_digest("random-id", args.name))[: int(args.inputs.get("byteLength", 8))]
    return {
        "hex": raw.hex(),
        "b64Std": base64.b64encode(raw).decode(),
        "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "dec": str(int.from_bytes(raw, "big")),
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
                        # As AKS issues it for an Entra ID cluster: kubelogin's device-code flow
                        # with the AKS server and client applications (Microsoft Learn, "Use
                        # kubelogin to authenticate users in AKS").
                        "args": [
                            "get-token",
                            "--login",
                            "devicecode",
                            "--server-id",
                            AKS_AAD_SERVER_APP,
                            "--client-id",
                            AKS_AAD_CLIENT_APP,
                            "--tenant-id",
                            TENANT,
                            "--environment",
                            "AzurePublicCloud",
                        ],
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
    "azure-native:keyvault:Vault": _vault,
    "azure-native:keyvault:Secret": _vault_secret,
    "azure-native:managedidentity:UserAssignedIdentity": _user_assigned_identity,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomId:RandomId": _random_id,
    "docker:index/image:Image": SynthMocks.docker_image,
}
