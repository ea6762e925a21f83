"""WorkloadIdentity: each service's identity reads only its own secrets, federated to exactly its
ServiceAccount, mounted read-only at /mnt/secrets; the SecretProviderClass matches the CRD."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.workload_identity import federated_subject, objects_parameter
from tests.synthesis import kube_object, kube_objects, of_type, only
from tools import secrets_store_crds
from tools.mocks import _fake_uuid
from tools.recorder import RecordedResource
from tools.synth import SynthResult

APP_NS = "micromart"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
VAULT_SECRET = "azure-native:keyvault:Secret"
CLUSTER = "azure-native:containerservice:ManagedCluster"
VAULT = "azure-native:keyvault:Vault"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SERVICES = ("gateway", "orders", "catalog", "inventory", "notifications")
# What each service may read (file -> Key Vault secret): its own role's and broker user's
# passwords, nothing of another service, no admin password.
EXPECTED_FILES = {
    "gateway": {},
    "orders": {
        "postgres-password": "orders-postgres-password",
        "rabbitmq-password": "orders-rabbitmq-password",
    },
    "catalog": {"postgres-password": "catalog-postgres-password"},
    "inventory": {
        "postgres-password": "inventory-postgres-password",
        "rabbitmq-password": "inventory-rabbitmq-password",
    },
    "notifications": {"rabbitmq-password": "notifications-rabbitmq-password"},
}


# The bootstrap's WorkloadIdentity is named after its DatabaseRoles component ("micromart").
BOOTSTRAP_GRANT = "::micromart-db-bootstrap-reads-"


def component(result: SynthResult, service: str, type_token: str) -> list[RecordedResource]:
    # Children of the service's own identity (named after the service), not of the public
    # service's certificate sync identity (components/gateway_tls.py, `<service>-tls-identity`).
    parent = f"micromart:identity:WorkloadIdentity::{service}"
    return [r for r in of_type(result, type_token) if r.parent.endswith(parent)]


def identity_of(result: SynthResult, service: str) -> RecordedResource:
    (identity,) = component(result, service, IDENTITY)
    return identity


def provider_class_files(result: SynthResult, service: str) -> dict[str, str]:
    found = [
        c
        for c in kube_objects(result, "SecretProviderClass")
        if c["metadata"]["name"] == f"{service}-secrets"
    ]
    if not found:
        return {}
    (provider_class,) = found
    items = yaml.safe_load(provider_class["spec"]["parameters"]["objects"])["array"]
    objects = [yaml.safe_load(item) for item in items]
    assert all(o["objectType"] == "secret" for o in objects)
    return {o["objectAlias"]: o["objectName"] for o in objects}


@pytest.mark.parametrize("service", SERVICES)
def test_each_identity_reads_exactly_its_own_secrets(result: SynthResult, service: str) -> None:
    identity = identity_of(result, service)
    secret_ids = {r.id: r.plain_inputs()["secretName"] for r in of_type(result, VAULT_SECRET)}
    grants = component(result, service, ROLE_ASSIGNMENT)
    readable = set()
    for grant in grants:
        inputs = grant.plain_inputs()
        assert inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{SECRETS_USER}")
        # The principal: this service's identity (the mock derives its ID from the Azure name).
        assert inputs["principalId"] == _fake_uuid(f"id-micromart-{service}-principal")
        assert grant.property_dependencies["principalId"] == (identity.urn,)
        assert inputs["principalType"] == "ServicePrincipal"
        # Scoped to one secret, never the vault or anything wider.
        assert inputs["scope"] in secret_ids, inputs["scope"]
        readable.add(secret_ids[inputs["scope"]])
    assert readable == set(EXPECTED_FILES[service].values())
    assert provider_class_files(result, service) == EXPECTED_FILES[service]
    # No other principal may read this service's secrets (and no service gets an admin
    # password). The one exception: the database bootstrap Job's identity sets every service
    # role's password with the admin's (tests/components/test_postgres_roles.py).
    bootstrap = [g for g in of_type(result, ROLE_ASSIGNMENT) if BOOTSTRAP_GRANT in g.urn]
    for grant in of_type(result, ROLE_ASSIGNMENT):
        scope = grant.plain_inputs()["scope"]
        if secret_ids.get(scope) in readable and grant not in bootstrap:
            assert grant in grants, grant.urn
    admin = {"postgres-admin-password", "rabbitmq-admin-password", "rabbitmq-monitoring-password"}
    assert not any(
        secret_ids.get(g.plain_inputs()["scope"]) in admin
        for g in of_type(result, ROLE_ASSIGNMENT)
        if g not in bootstrap
    )


def test_no_identity_is_granted_the_vault_itself(result: SynthResult) -> None:
    vault = only(result, VAULT)
    scopes = [g.plain_inputs()["scope"] for g in of_type(result, ROLE_ASSIGNMENT)]
    assert vault.id not in scopes
    assert not [s for s in scopes if s.startswith(vault.id) and "/secrets/" not in s]


@pytest.mark.parametrize("service", SERVICES)
def test_the_federated_subject_is_exactly_the_pods_service_account(
    result: SynthResult, service: str
) -> None:
    (credential,) = component(result, service, CREDENTIAL)
    inputs = credential.plain_inputs()
    deployment = kube_object(result, "Deployment", service, APP_NS)
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert inputs["subject"] == f"system:serviceaccount:{APP_NS}:{account}"
    assert inputs["audiences"] == ["api://AzureADTokenExchange"]
    cluster = only(result, CLUSTER)
    assert inputs["issuer"] == f"https://oidc.example/{cluster.plain_inputs()['resourceName']}/"
    assert credential.property_dependencies["resourceName"] == (identity_of(result, service).urn,)
    service_account = kube_object(result, "ServiceAccount", account, APP_NS)
    client_id = identity_of(result, service).plain_inputs()  # the mock derives it from the name
    annotation = service_account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert annotation and client_id["resourceName"] == f"id-micromart-{service}"
    assert service_account["automountServiceAccountToken"] is False
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


@pytest.mark.parametrize("service", SERVICES)
def test_pods_mount_their_secrets_read_only_at_mnt_secrets(
    result: SynthResult, service: str
) -> None:
    pod = kube_object(result, "Deployment", service, APP_NS)["spec"]["template"]["spec"]
    csi = [v for v in pod["volumes"] if "csi" in v]
    (container,) = pod["containers"]
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/mnt/secrets"]
    if not EXPECTED_FILES[service]:
        assert csi == [] and mounts == []
        return
    (volume,) = csi
    assert volume["csi"] == {
        "driver": "secrets-store.csi.k8s.io",
        "readOnly": True,
        "volumeAttributes": {"secretProviderClass": f"{service}-secrets"},
    }
    assert mounts == [{"name": volume["name"], "mountPath": "/mnt/secrets", "readOnly": True}]


def test_provider_classes_name_the_vault_tenant_and_client(result: SynthResult) -> None:
    vault = only(result, VAULT).plain_inputs()
    for provider_class in kube_objects(result, "SecretProviderClass"):
        service = provider_class["metadata"]["name"].removesuffix("-secrets")
        parameters = provider_class["spec"]["parameters"]
        assert provider_class["spec"]["provider"] == "azure"
        assert parameters["usePodIdentity"] == "false"
        assert parameters["keyvaultName"] == vault["vaultName"]
        assert parameters["tenantId"] == vault["properties"]["tenantId"]
        namespace = provider_class["metadata"]["namespace"]
        account = kube_object(result, "ServiceAccount", service, namespace)
        client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
        assert parameters["clientID"] == client_id


def test_the_objects_parameter_is_the_providers_array_of_documents() -> None:
    text = objects_parameter({"postgres-password": "orders-postgres-password", "API_KEY": "k"})
    documents = [yaml.safe_load(item) for item in yaml.safe_load(text)["array"]]
    assert documents == [
        {"objectName": "k", "objectType": "secret", "objectAlias": "API_KEY"},
        {
            "objectName": "orders-postgres-password",
            "objectType": "secret",
            "objectAlias": "postgres-password",
        },
    ]
    assert federated_subject("micromart", "orders") == "system:serviceaccount:micromart:orders"


def test_the_crd_validator_catches_what_the_api_server_would_refuse(staging: SynthResult) -> None:
    (document,) = [
        c
        for c in kube_objects(staging, "SecretProviderClass")
        if c["metadata"]["name"] == "orders-secrets"
    ]
    assert secrets_store_crds.validation_errors(document) == []
    misspelt: dict[str, Any] = copy.deepcopy(document)
    misspelt["spec"]["paramters"] = misspelt["spec"].pop("parameters")
    assert secrets_store_crds.validation_errors(misspelt)
    not_a_string = copy.deepcopy(document)
    not_a_string["spec"]["parameters"]["usePodIdentity"] = False
    assert any("usePodIdentity" in e for e in secrets_store_crds.validation_errors(not_a_string))
    unserved = copy.deepcopy(document)
    unserved["apiVersion"] = "secrets-store.csi.x-k8s.io/v2"
    assert secrets_store_crds.validation_errors(unserved)
