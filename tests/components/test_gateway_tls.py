"""GatewayTls: the public host's certificate goes from Key Vault into the Gateway's Secret.

In aks-istio-ingress, an identity that may read exactly the certificate's secret, a
SecretProviderClass that mirrors it into a kubernetes.io/tls Secret named as the Gateway's
credentialName, and hardened pods that hold the mount so the driver keeps that Secret in sync.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from components.gateway_tls import NAME
from tests.synthesis import kube_object, kube_objects, of_type, only, stack_setting
from tools import secrets_store_crds
from tools.mocks import _fake_uuid
from tools.synth import SynthResult

INGRESS_NS = "aks-istio-ingress"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
VAULT = "azure-native:keyvault:Vault"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SYNC_IDENTITY = "micromart:identity:WorkloadIdentity::gateway-tls-identity"


def ingress(result: SynthResult) -> dict[str, Any]:
    setting: dict[str, Any] = stack_setting(result.stack, "ingress")
    return setting


def provider_class(result: SynthResult) -> dict[str, Any]:
    return kube_object(result, "SecretProviderClass", f"{NAME}-secrets", INGRESS_NS)


def mounted_objects(result: SynthResult) -> list[dict[str, Any]]:
    items = yaml.safe_load(provider_class(result)["spec"]["parameters"]["objects"])["array"]
    return [yaml.safe_load(item) for item in items]


def test_the_sync_objects_live_in_the_gateways_namespace(result: SynthResult) -> None:
    for kind, name in (
        ("ServiceAccount", NAME),
        ("SecretProviderClass", f"{NAME}-secrets"),
        ("Deployment", NAME),
        ("PodDisruptionBudget", NAME),
        ("NetworkPolicy", NAME),
    ):
        assert kube_object(result, kind, name)["metadata"]["namespace"] == INGRESS_NS, kind


def test_the_sync_pods_admit_nobody(result: SynthResult) -> None:
    policy = kube_object(result, "NetworkPolicy", NAME, INGRESS_NS)["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": NAME}
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert not policy.get("ingress") and not policy.get("egress")


def test_the_identity_reads_only_the_certificates_secret(result: SynthResult) -> None:
    grants = [r for r in of_type(result, ROLE_ASSIGNMENT) if r.parent.endswith(SYNC_IDENTITY)]
    assert len(grants) == 1
    inputs = grants[0].plain_inputs()
    vault_id = only(result, VAULT).id
    # The certificate's key and chain are read through the secret of the same name.
    assert inputs["scope"] == f"{vault_id}/secrets/{ingress(result)['certificateName']}"
    assert inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{SECRETS_USER}")
    assert inputs["principalId"] == _fake_uuid(f"id-micromart-{NAME}-principal")
    # And it signs in only as the sync pods' ServiceAccount.
    (credential,) = [r for r in of_type(result, CREDENTIAL) if r.parent.endswith(SYNC_IDENTITY)]
    assert credential.plain_inputs()["subject"] == f"system:serviceaccount:{INGRESS_NS}:{NAME}"
    (identity,) = [r for r in of_type(result, IDENTITY) if r.parent.endswith(SYNC_IDENTITY)]
    assert identity.plain_inputs()["resourceName"] == f"id-micromart-{NAME}"
    account = kube_object(result, "ServiceAccount", NAME, INGRESS_NS)
    client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert provider_class(result)["spec"]["parameters"]["clientID"] == client_id
    assert client_id == _fake_uuid(f"id-micromart-{NAME}-client")


def test_the_certificate_syncs_into_the_gateways_tls_secret(result: SynthResult) -> None:
    (mounted,) = mounted_objects(result)
    assert mounted["objectName"] == ingress(result)["certificateName"]
    assert mounted["objectType"] == "secret"
    (synced,) = provider_class(result)["spec"]["secretObjects"]
    assert synced["type"] == "kubernetes.io/tls"
    assert {d["key"] for d in synced["data"]} == {"tls.crt", "tls.key"}
    assert {d["objectName"] for d in synced["data"]} == {mounted["objectAlias"]}
    (gateway,) = kube_objects(result, "Gateway")
    credentials = {
        s["tls"]["credentialName"]
        for s in gateway["spec"]["servers"]
        if "credentialName" in s["tls"]
    }
    assert credentials == {synced["secretName"]} == {ingress(result)["tlsSecretName"]}


def test_the_sync_pods_mount_the_volume_and_probe_the_file(result: SynthResult) -> None:
    deployment = kube_object(result, "Deployment", NAME, INGRESS_NS)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == NAME
    assert pod["automountServiceAccountToken"] is False
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"]
    (volume,) = pod["volumes"]
    assert volume["csi"]["volumeAttributes"]["secretProviderClass"] == f"{NAME}-secrets"
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"] and mount["readOnly"] is True
    path = f"{mount['mountPath']}/{mounted_objects(result)[0]['objectAlias']}"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["test", "-s", path]
    # The gateway service's image, from the stack's registry.
    login_server = stack_setting(result.stack, "registry")["name"] + ".azurecr.io"
    assert container["image"].startswith(f"{login_server}/gateway@sha256:")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]


def test_the_provider_class_with_secret_objects_matches_the_crd(result: SynthResult) -> None:
    document = provider_class(result)
    assert secrets_store_crds.validation_errors(document) == []
    wrong: dict[str, Any] = copy.deepcopy(document)
    wrong["spec"]["secretObjects"][0]["data"][0]["objectname"] = "x"
    assert secrets_store_crds.validation_errors(wrong)
