"""One workload's Azure identity and the Key Vault secrets it, and only it, may read as files.

- a user-assigned managed identity;
- a federated credential that lets exactly one Kubernetes ServiceAccount
  (`system:serviceaccount:<namespace>:<name>`) sign in as it with the tokens of the cluster's
  OIDC issuer (Microsoft Entra Workload ID; audience api://AzureADTokenExchange);
- one "Key Vault Secrets User" role assignment per secret it may read, scoped to that secret, not
  to the vault: the vault is in RBAC mode, where a secret is its own scope;
- the ServiceAccount, annotated with the identity's client ID;
- a SecretProviderClass that tells the Secrets Store CSI driver's Azure provider which secrets to
  fetch with that identity and under which file names to mount them.

Pods use it through `pod`: the service account, the label that opts them into workload identity
and the read-only CSI volume at /mnt/secrets. The driver fetches the files when the pod mounts the
volume and, with the add-on's rotation on, rewrites them in place when a secret changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, managedidentity

from components import kube
from components.azure import KEY_VAULT_SECRETS_USER_ROLE_ID, Placement, role_definition_id
from components.keyvault import VaultRef
from components.secrets_store import (
    CSI_DRIVER,
    SECRET_PROVIDER_CLASS,
    SECRETS_STORE_API_VERSION,
    SecretsStoreCrds,
)

core = k8s.core.v1
meta = k8s.meta.v1

SECRETS_DIR = "/mnt/secrets"
SECRETS_VOLUME = "secrets"
# Microsoft Entra Workload ID: the audience AKS-issued tokens carry for the token exchange, the
# label that makes the webhook project the token into a pod, and the ServiceAccount annotation
# naming the identity (azure.github.io/azure-workload-identity, "Service Account Labels and
# Annotations" and "Pod Labels").
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
USE_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


def federated_subject(namespace: str, service_account: str) -> str:
    """The one subject a credential accepts: a single ServiceAccount, never a pattern."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def objects_parameter(files: Mapping[str, str]) -> str:
    """The Azure provider's `objects` parameter: a YAML `array:` of YAML documents, one per
    secret, mounted under `objectAlias` (azure.github.io/secrets-store-csi-driver-provider-azure,
    "Getting started / Usage"; the provider parses it with GetObjectsArray and names the file by
    KeyVaultObject.GetFileName, objectAlias first: pkg/provider/types/parameters.go)."""
    lines = ["array:"]
    for file_name, secret_name in sorted(files.items()):
        lines += [
            "  - |",
            f"    objectName: {secret_name}",
            "    objectType: secret",
            f"    objectAlias: {file_name}",
        ]
    return "\n".join(lines) + "\n"


def _secret_object(synced: SyncedSecret) -> dict[str, object]:
    return {
        "secretName": synced.secret_name,
        "type": synced.type,
        "data": [
            {"objectName": file_name, "key": key} for key, file_name in sorted(synced.data.items())
        ],
    }


@dataclass(frozen=True)
class PodIdentity:
    """What a pod spec takes from its WorkloadIdentity."""

    service_account_name: pulumi.Output[str]
    labels: Mapping[str, str]
    volumes: tuple[core.VolumeArgs, ...]
    volume_mounts: tuple[core.VolumeMountArgs, ...]
    # File names under SECRETS_DIR, for the app's REQUIRED_SECRETS.
    files: tuple[str, ...]


@dataclass(frozen=True)
class SyncedSecret:
    """A Kubernetes Secret the CSI driver creates from mounted files and keeps in sync with them
    (SecretProviderClass `secretObjects`, secrets-store-csi-driver docs "Sync as Kubernetes
    Secret"): it exists while a pod mounts the volume, and the driver rewrites it on rotation."""

    secret_name: str
    type: str
    # Key in the Secret -> file name (objectAlias) it is read from.
    data: Mapping[str, str]


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    service_account: str
    namespace: pulumi.Input[str]
    namespace_name: str
    labels: Mapping[str, str]
    placement: Placement
    # Azure name of the user-assigned identity (unique in the resource group).
    identity_name: str
    oidc_issuer_url: pulumi.Input[str]
    vault: VaultRef
    # File name under /mnt/secrets -> Key Vault secret name.
    files: Mapping[str, str]
    # Key Vault secret name -> its ARM ID (KeyVault.secret_ids); every file's secret must be here.
    secret_ids: Mapping[str, pulumi.Input[str]]
    provider: k8s.Provider
    crds: SecretsStoreCrds
    # The component that owned this ServiceAccount before the identity did (the Microservice):
    # an alias keeps the object's history, so the update adopts it instead of creating it under
    # a new URN and then deleting the old one, which would delete the same-named object.
    previous_parent: pulumi.Resource | None = None
    # Kubernetes Secrets mirrored from the files; none for the services, which read files only.
    synced_secrets: tuple[SyncedSecret, ...] = ()


class WorkloadIdentity(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    pod: PodIdentity

    def __init__(
        self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:identity:WorkloadIdentity", name, None, opts)
        unknown = sorted(set(args.files.values()) - set(args.secret_ids))
        if unknown:
            raise ValueError(f"workload identity '{name}': no Key Vault secret {unknown}")
        unmounted = sorted(
            {file for synced in args.synced_secrets for file in synced.data.values()}
            - set(args.files)
        )
        if unmounted:
            raise ValueError(f"workload identity '{name}': no file {unmounted} to sync from")
        child = pulumi.ResourceOptions(parent=self)
        placement = args.placement
        # Keyword form: the Args classes' `resource_name` (the identity's Azure name) collides
        # with the resource's own name in _internal_init (azure-native 3.29), as for AKS.
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=args.identity_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=child,
        )
        credential = managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            federated_identity_credential_resource_name=f"aks-{args.service_account}",
            resource_name_=identity.name,
            resource_group_name=placement.resource_group_name,
            issuer=args.oidc_issuer_url,
            subject=federated_subject(args.namespace_name, args.service_account),
            audiences=[TOKEN_AUDIENCE],
            opts=child,
        )
        grants = [
            authorization.RoleAssignment(
                f"{name}-reads-{secret_name}",
                args=authorization.RoleAssignmentArgs(
                    principal_id=identity.principal_id,
                    principal_type="ServicePrincipal",
                    role_definition_id=role_definition_id(KEY_VAULT_SECRETS_USER_ROLE_ID, self),
                    scope=args.secret_ids[secret_name],
                ),
                opts=child,
            )
            for secret_name in sorted(set(args.files.values()))
        ]
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        account = core.ServiceAccount(
            f"{name}-sa",
            metadata=meta.ObjectMetaArgs(
                name=args.service_account,
                namespace=args.namespace,
                labels=dict(args.labels),
                annotations={CLIENT_ID_ANNOTATION: identity.client_id},
            ),
            automount_service_account_token=False,
            # A pod's token is worth nothing to Entra ID until the credential trusts it.
            opts=pulumi.ResourceOptions.merge(
                k8s_child,
                pulumi.ResourceOptions(
                    depends_on=[credential],
                    aliases=[pulumi.Alias(parent=args.previous_parent)]
                    if args.previous_parent is not None
                    else None,
                ),
            ),
        )
        volumes: tuple[core.VolumeArgs, ...] = ()
        mounts: tuple[core.VolumeMountArgs, ...] = ()
        if args.files:
            provider_class_name = f"{args.service_account}-secrets"
            provider_class = self._provider_class(
                name,
                object_name=provider_class_name,
                args=args,
                identity=identity,
                grants=grants,
                opts=k8s_child,
            )
            volumes = (
                core.VolumeArgs(
                    name=SECRETS_VOLUME,
                    csi=core.CSIVolumeSourceArgs(
                        driver=CSI_DRIVER,
                        read_only=True,
                        # From the object's ID (known once it is created): pods are sent only
                        # after their SecretProviderClass exists.
                        volume_attributes={
                            "secretProviderClass": provider_class.id.apply(
                                lambda _: provider_class_name
                            )
                        },
                    ),
                ),
            )
            mounts = (
                core.VolumeMountArgs(name=SECRETS_VOLUME, mount_path=SECRETS_DIR, read_only=True),
            )
        self.client_id = identity.client_id
        self.principal_id = identity.principal_id
        self.pod = PodIdentity(
            service_account_name=kube.name_of(account),
            labels={USE_LABEL: "true"},
            volumes=volumes,
            volume_mounts=mounts,
            files=tuple(sorted(args.files)),
        )
        self.register_outputs({"client_id": self.client_id, "principal_id": self.principal_id})

    def _provider_class(
        self,
        name: str,
        *,
        object_name: str,
        args: WorkloadIdentityArgs,
        identity: managedidentity.UserAssignedIdentity,
        grants: list[authorization.RoleAssignment],
        opts: pulumi.ResourceOptions,
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{name}-secret-provider-class",
            api_version=SECRETS_STORE_API_VERSION,
            kind=SECRET_PROVIDER_CLASS,
            metadata=meta.ObjectMetaArgs(
                name=object_name,
                namespace=args.namespace,
                labels=dict(args.labels),
            ),
            spec={
                "provider": "azure",
                # Parameters of the Azure provider with workload identity
                # (secrets-store-csi-driver-provider-azure docs, "Workload Identity" mode): the
                # driver requests a token for the pod's ServiceAccount and exchanges it for
                # clientID's Entra token. All values are strings (the CRD says so). `tenantId`: the
                # provider reads `tenantID` first and falls back to `tenantId`
                # (Azure/secrets-store-csi-driver-provider-azure pkg/provider/types/parameters.go,
                # GetTenantID), so the older spelling works on every provider the add-on ships.
                "parameters": {
                    "usePodIdentity": "false",
                    "clientID": identity.client_id,
                    "keyvaultName": args.vault.name,
                    "tenantId": args.vault.tenant_id,
                    "objects": objects_parameter(args.files),
                },
                **(
                    {"secretObjects": [_secret_object(synced) for synced in args.synced_secrets]}
                    if args.synced_secrets
                    else {}
                ),
            },
            # After the CRD read (the add-on installs it) and after the grants, so a pod that
            # mounts it is not refused for a role that does not exist yet.
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions.merge(
                    opts, args.crds.waits_for(SECRETS_STORE_API_VERSION, SECRET_PROVIDER_CLASS)
                ),
                pulumi.ResourceOptions(depends_on=list(grants)),
            ),
        )
