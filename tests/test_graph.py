"""Shape of the synthesized dependency graph: what may be created in parallel, what is isolated."""

from __future__ import annotations

import json

from tests.synthesis import dependency_closure, of_type, only
from tools.recorder import RecordedResource
from tools.synth import SynthResult, component_of

CLUSTER = "azure-native:containerservice:ManagedCluster"
SERVER = "azure-native:dbforpostgresql:Server"
REGISTRY = "azure-native:containerregistry:Registry"
IMAGE = "docker:index/image:Image"
CLUSTER_COMPONENT = "micromart:cluster:Cluster"
NAMESPACES_COMPONENT = "micromart:namespaces:Namespaces"
MICROSERVICE = "micromart:service:Microservice"
STACKS = ("staging", "production")


def in_component(result: SynthResult, component: str) -> set[str]:
    return {r.urn for r in result.program_resources if component_of(result, r) == component}


def service_of(result: SynthResult) -> dict[str, str]:
    """URN -> name of the Microservice it belongs to, for every resource under one."""
    by_urn = {r.urn: r for r in result.resources}
    owners: dict[str, str] = {}
    for resource in result.resources:
        current: RecordedResource | None = resource
        while current is not None:
            if current.type == MICROSERVICE:
                owners[resource.urn] = current.name
                break
            current = by_urn.get(current.parent)
    return owners


def test_cluster_and_postgres_server_do_not_wait_for_each_other(result: SynthResult) -> None:
    cluster, server = only(result, CLUSTER), only(result, SERVER)
    assert server.urn not in dependency_closure(result, cluster.urn)
    assert cluster.urn not in dependency_closure(result, server.urn)
    # Nothing else of the cluster's (its Kubernetes provider) sits in the server's path either.
    assert not dependency_closure(result, server.urn) & in_component(result, CLUSTER_COMPONENT)


def test_registry_does_not_wait_for_the_cluster(result: SynthResult) -> None:
    registry = only(result, REGISTRY)
    assert not dependency_closure(result, registry.urn) & in_component(result, CLUSTER_COMPONENT)


def test_image_builds_do_not_wait_for_the_cluster(result: SynthResult) -> None:
    images = of_type(result, IMAGE)
    owners = service_of(result)
    # One build per service (plus the RabbitMQ image).
    assert len({owners[i.urn] for i in images if i.urn in owners}) == 5
    cluster_side = in_component(result, CLUSTER_COMPONENT)
    for image in images:
        assert not dependency_closure(result, image.urn) & cluster_side, image.urn


def test_namespaces_do_not_depend_on_any_service(result: SynthResult) -> None:
    owned = in_component(result, NAMESPACES_COMPONENT)
    assert len(owned) >= 10  # two namespaces with five objects each
    services = set(service_of(result))
    for urn in owned:
        assert not dependency_closure(result, urn) & services, urn


def test_no_service_depends_on_another_service(result: SynthResult) -> None:
    owners = service_of(result)
    assert len(set(owners.values())) == 5
    crossings = [
        (urn, dependency)
        for urn, owner in owners.items()
        for dependency in dependency_closure(result, urn)
        if owners.get(dependency, owner) != owner
    ]
    assert crossings == []


def test_deployments_wait_for_the_key_vault_secrets_they_mount(result: SynthResult) -> None:
    # A pod whose SecretProviderClass, Secrets User grants or Key Vault secrets do not exist yet
    # sits in ContainerCreating (FailedMount) and the Deployment's await times out on a first
    # `up`: each Deployment must depend on all of them, not just name them.
    classes = {
        (c["metadata"]["namespace"], c["metadata"]["name"]): r
        for r in of_type(result, "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass")
        for c in [r.plain_inputs()]
    }
    types = {r.urn: r.type for r in result.resources}
    mounted, missing = 0, []
    for deployment in of_type(result, "kubernetes:apps/v1:Deployment"):
        inputs = deployment.plain_inputs()
        namespace = inputs["metadata"]["namespace"]
        closure = dependency_closure(result, deployment.urn)
        for volume in inputs["spec"]["template"]["spec"].get("volumes", []):
            if "csi" not in volume:
                continue
            mounted += 1
            provider_class = classes[
                (namespace, volume["csi"]["volumeAttributes"]["secretProviderClass"])
            ]
            kinds = {types.get(urn) for urn in dependency_closure(result, provider_class.urn)}
            # The public host's certificate is put in Key Vault out of band (README, Real use):
            # its sync pods can wait only for the vault and the grant on the certificate.
            secret = (
                "azure-native:keyvault:Vault"
                if deployment.name == "gateway-tls-deployment"
                else "azure-native:keyvault:Secret"
            )
            if (
                provider_class.urn not in closure
                or not {"azure-native:authorization:RoleAssignment", secret} <= kinds
            ):
                missing.append(deployment.name)
    assert mounted >= 3  # orders, catalog, inventory (their database role's password)
    assert missing == []


def test_no_container_reads_a_secret_from_env(result: SynthResult) -> None:
    # Secrets are files from Key Vault; an env var would leak into crash dumps, `env` in exec
    # sessions and child processes (Checkov CKV_K8S_35). No container anywhere, no Secret ref.
    found = []
    for resource in result.resources:
        if not resource.is_kubernetes_object:
            continue
        text = json.dumps(resource.plain_inputs())
        for marker in ('"secretKeyRef"', '"secretRef"'):
            if marker in text:
                found.append((resource.urn, marker))
    assert found == []
