"""RabbitMQ component: a hardened StatefulSet and the objects around it, as plain Kubernetes."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any, cast

import yaml

from policy.rules import istio as istio_rules
from policy.rules.kinds import manifests
from tests.synthesis import PROJECT_DIR, kube_object, kube_objects, of_type
from tools import istio_crds
from tools.recorder import SECRET_SIG, SIG_KEY, RecordedResource
from tools.synth import SynthResult

NAMESPACE = "micromart-messaging"
APP_NAMESPACE = "micromart"
COMPONENT = "micromart:rabbitmq:RabbitMQ"
CLIENT_LABEL = "micromart.io/messaging-client"
AMQP = 5672
# The AKS KEDA add-on's operator pods (components/rabbitmq.py KEDA_OPERATOR_LABELS).
KEDA_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"app": "keda-operator"}},
}
PEER_TYPE = "kubernetes:security.istio.io/v1:PeerAuthentication"
PEER_EXEMPTION = "exempt.policy.micromart.io/istio-peer-authentication-strict"
STACKS = ("staging", "production")


@cache
def stack_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]
    return config


def rabbitmq_config(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = stack_config(stack)["micromart:rabbitmq"]
    return config


def owned(result: SynthResult, type_token: str) -> list[RecordedResource]:
    return [r for r in of_type(result, type_token) if f"{COMPONENT}$" in r.urn]


def statefulset(result: SynthResult) -> dict[str, Any]:
    return kube_object(result, "StatefulSet", "rabbitmq", NAMESPACE)


def pod_spec(result: SynthResult) -> dict[str, Any]:
    spec: dict[str, Any] = statefulset(result)["spec"]["template"]["spec"]
    return spec


def all_containers(result: SynthResult) -> list[dict[str, Any]]:
    spec = pod_spec(result)
    return [*spec.get("initContainers", []), *spec["containers"]]


def broker(result: SynthResult) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(result)["containers"]
    (container,) = [c for c in containers if c["name"] == "rabbitmq"]
    return container


def pod_labels(result: SynthResult) -> dict[str, str]:
    labels: dict[str, str] = statefulset(result)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_pod_runs_as_non_root_with_runtime_default_seccomp(result: SynthResult) -> None:
    context = pod_spec(result)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] != 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec(result)["automountServiceAccountToken"] is False


def test_every_container_including_init_is_restricted(result: SynthResult) -> None:
    containers = all_containers(result)
    assert {c["name"] for c in containers} >= {"rabbitmq", "erlang-cookie"}
    for container in containers:
        context = container["securityContext"]
        name = container["name"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context.get("privileged", False) is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert context["runAsNonRoot"] is True, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name


def test_every_container_has_cpu_and_memory_requests_and_limits(result: SynthResult) -> None:
    for container in all_containers(result):
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) == {"cpu", "memory"}, (container["name"], kind)


def test_broker_resources_follow_the_stack_file(result: SynthResult) -> None:
    assert broker(result)["resources"] == rabbitmq_config(result.stack)["resources"]


def diagnostics(probe: dict[str, Any]) -> str:
    """The `rabbitmq-diagnostics` check a probe runs."""
    command = probe["exec"]["command"]
    assert command[:2] == ["rabbitmq-diagnostics", "--silent"], command
    (check,) = command[2:]
    assert isinstance(check, str)
    return check


def test_broker_probes_check_liveness_and_readiness_differently(result: SynthResult) -> None:
    container = broker(result)
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    startup = container["startupProbe"]
    # Liveness only asks whether the node runs (a restart cures nothing else); readiness
    # whether it accepts client connections; startup covers the slow first boot.
    assert diagnostics(liveness) == "ping"
    assert diagnostics(readiness) == "check_port_connectivity"
    assert diagnostics(startup) == "ping"
    for name, probe in (("readiness", readiness), ("liveness", liveness), ("startup", startup)):
        assert probe["timeoutSeconds"] <= probe["periodSeconds"], name
    # Mnesia/Khepri table sync after a restart can take minutes: five before giving up.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    # A busy node must miss more than one liveness period before it is killed.
    assert liveness["failureThreshold"] >= 3


def test_data_lives_on_claims_that_outlive_the_statefulset(result: SynthResult) -> None:
    spec = statefulset(result)["spec"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    storage = claim["spec"]["resources"]["requests"]["storage"]
    assert storage == rabbitmq_config(result.stack)["storage"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    mounts = {m["name"]: m["mountPath"] for m in broker(result)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/rabbitmq"


def test_replicas_follow_the_stack_file(result: SynthResult) -> None:
    assert statefulset(result)["spec"]["replicas"] == rabbitmq_config(result.stack)["replicas"]


def test_production_broker_keeps_a_quorum_through_one_lost_node(production: SynthResult) -> None:
    replicas = statefulset(production)["spec"]["replicas"]
    assert replicas >= 3 and replicas % 2 == 1


def test_headless_and_client_services_select_the_broker(result: SynthResult) -> None:
    services = {s["metadata"]["name"]: s for s in kube_objects(result, "Service")}
    sts = statefulset(result)
    headless = services[sts["spec"]["serviceName"]]
    assert headless["metadata"]["namespace"] == NAMESPACE
    assert headless["spec"]["clusterIP"] == "None"
    # Peers must resolve each other before they are ready, or the cluster never forms.
    assert headless["spec"]["publishNotReadyAddresses"] is True
    client = services["rabbitmq"]
    assert client["metadata"]["namespace"] == NAMESPACE
    assert client["spec"].get("clusterIP") != "None"
    assert AMQP in {p["port"] for p in client["spec"]["ports"]}
    for service in (headless, client):
        assert service["spec"]["selector"].items() <= pod_labels(result).items()


def test_disruption_budget_covers_the_broker(result: SynthResult) -> None:
    budget = kube_object(result, "PodDisruptionBudget", "rabbitmq", NAMESPACE)
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(result).items()
    assert budget["spec"]["maxUnavailable"] == 1


def test_network_policy_admits_amqp_only_from_labelled_app_pods(result: SynthResult) -> None:
    policy = kube_object(result, "NetworkPolicy", "rabbitmq", NAMESPACE)["spec"]
    broker_selector = policy["podSelector"]["matchLabels"]
    assert broker_selector.items() <= pod_labels(result).items()
    assert "Ingress" in policy["policyTypes"]
    client_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": APP_NAMESPACE}},
        "podSelector": {"matchLabels": {CLIENT_LABEL: "true"}},
    }
    client_rules = 0
    for rule in policy["ingress"]:
        peers = rule.get("from")
        assert peers, "an ingress rule without 'from' admits every pod"
        for peer in peers:
            if peer == client_peer:
                client_rules += 1
                # Clients get AMQP and nothing else (no management, no Erlang distribution).
                assert rule["ports"] == [{"port": AMQP, "protocol": "TCP"}]
            elif peer == SCRAPER_PEER:
                # The metrics scraper gets the Istio agent's merged-metrics port, nothing else.
                assert rule["ports"] == [{"port": 15020, "protocol": "TCP"}]
            elif peer == KEDA_PEER:
                assert rule["ports"] == [{"port": AMQP, "protocol": "TCP"}]
            else:
                # Anything else must be the broker's own pods (cluster peers), same namespace.
                assert peer == {"podSelector": {"matchLabels": broker_selector}}, peer
    assert client_rules == 1


SCRAPER_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"rsName": "ama-metrics"}},
}


def _keda_rules(result: SynthResult) -> list[dict[str, Any]]:
    policy = kube_object(result, "NetworkPolicy", "rabbitmq", NAMESPACE)["spec"]
    return [rule for rule in policy["ingress"] if KEDA_PEER in rule["from"]]


def _broker_peer_authentications(result: SynthResult) -> list[dict[str, Any]]:
    return [
        p
        for p in kube_objects(result, "PeerAuthentication")
        if p["metadata"]["namespace"] == NAMESPACE and p["metadata"]["name"] != "default"
    ]


def test_production_admits_exactly_the_keda_operator_on_amqp_alone(
    production: SynthResult,
) -> None:
    # notifications scales on its queue there; the operator's passive queue.declare needs AMQP.
    (rule,) = _keda_rules(production)
    assert rule["from"] == [KEDA_PEER]
    assert rule["ports"] == [{"port": AMQP, "protocol": "TCP"}]


def test_production_accepts_plaintext_only_on_amqp_of_the_broker_pods(
    production: SynthResult,
) -> None:
    (peer,) = _broker_peer_authentications(production)
    spec = peer["spec"]
    selector = spec["selector"]["matchLabels"]
    # Istio applies portLevelMtls only under a workload selector; it must pick the broker pods.
    assert selector
    assert selector.items() <= pod_labels(production).items()
    assert spec["mtls"] == {"mode": "STRICT"}
    assert spec["portLevelMtls"] == {str(AMQP): {"mode": "PERMISSIVE"}}
    assert "NetworkPolicy" in peer["metadata"]["annotations"][PEER_EXEMPTION]
    assert istio_crds.validation_errors(peer) == []
    # The namespace-wide policy stays STRICT.
    default = kube_object(production, "PeerAuthentication", "default", NAMESPACE)
    assert default["spec"] == {"mtls": {"mode": "STRICT"}}


def test_the_pack_honours_that_exemption_and_nothing_wider(production: SynthResult) -> None:
    (peer,) = _broker_peer_authentications(production)
    (manifest,) = manifests(PEER_TYPE, peer)
    assert istio_rules.peer_exemption_refusal(manifest) is None
    assert list(istio_rules.check_peer_authentication(manifest, cast(Any, None))) == []
    # The same object made namespace-wide is refused and blocked again.
    wide = json.loads(json.dumps(peer))
    del wide["spec"]["selector"]
    (manifest,) = manifests(PEER_TYPE, wide)
    assert istio_rules.peer_exemption_refusal(manifest) is not None
    assert list(istio_rules.check_peer_authentication(manifest, cast(Any, None))) != []


def test_staging_without_queue_scaling_keeps_amqp_strict_and_closed(staging: SynthResult) -> None:
    assert _keda_rules(staging) == []
    assert _broker_peer_authentications(staging) == []


def test_only_services_that_declare_messaging_carry_the_client_label(
    result: SynthResult,
) -> None:
    declared = set()
    for spec_file in (PROJECT_DIR / "services").glob("*/service.yaml"):
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        if spec.get("rabbitmq"):
            declared.add(spec["name"])
    deployments = kube_objects(result, "Deployment")
    labelled = {
        d["metadata"]["name"]
        for d in deployments
        if d["spec"]["template"]["metadata"]["labels"].get(CLIENT_LABEL) == "true"
    }
    assert labelled == declared
    # Some services are clients and some are not, so both directions are exercised.
    assert labelled and labelled != {d["metadata"]["name"] for d in deployments}


def credentials_secret(result: SynthResult) -> RecordedResource:
    (credentials,) = [
        r
        for r in owned(result, "kubernetes:core/v1:Secret")
        if r.plain_inputs()["metadata"]["name"] == "rabbitmq-credentials"
    ]
    return credentials


def definitions_of(result: SynthResult) -> dict[str, Any]:
    """The definitions file the broker imports, with the mock runtime's generated passwords."""
    document: dict[str, Any] = json.loads(
        credentials_secret(result).plain_inputs()["stringData"]["definitions.json"]
    )
    return document


def test_definitions_and_erlang_cookie_are_generated_secrets(result: SynthResult) -> None:
    credentials = credentials_secret(result)
    assert credentials.plain_inputs()["metadata"]["namespace"] == NAMESPACE
    assert credentials.inputs["stringData"].get(SIG_KEY) == SECRET_SIG
    data = credentials.plain_inputs()["stringData"]
    assert set(data) == {"definitions.json", "erlang-cookie"}
    assert len(data["erlang-cookie"]) >= 32
    passwords = owned(result, "random:index/randomPassword:RandomPassword")
    salts = owned(result, "random:index/randomId:RandomId")
    # One password and one salt per user (3 services, monitoring, admin), plus the cookie.
    assert (len(passwords), len(salts)) == (6, 5)
    assert {r.urn for r in passwords + salts} <= set(credentials.dependencies)
    cookie = data["erlang-cookie"]
    hashes = [u["password_hash"] for u in definitions_of(result)["users"]]
    for resource in result.resources:
        redacted = json.dumps(resource.redacted_inputs())
        assert cookie not in redacted, resource.urn
        for value in hashes:
            assert value not in redacted, resource.urn


def test_shared_client_user_and_url_secret_are_gone(result: SynthResult) -> None:
    names = {u["name"] for u in definitions_of(result)["users"]}
    assert "micromart" not in names and "guest" not in names
    secrets = {s["metadata"]["name"] for s in kube_objects(result, "Secret")}
    assert "rabbitmq-client" not in secrets
    for secret in kube_objects(result, "Secret"):
        assert "RABBITMQ_URL" not in secret.get("stringData", {}), secret["metadata"]["name"]


def test_monitoring_secret_holds_only_the_monitoring_users_url(result: SynthResult) -> None:
    secret = kube_object(result, "Secret", "rabbitmq-monitoring", APP_NAMESPACE)
    (url,) = secret["stringData"].values()
    assert url.startswith("amqp://monitoring:") and url.endswith(
        f"@rabbitmq.{NAMESPACE}.svc.cluster.local:{AMQP}/micromart"
    )


def test_broker_pods_roll_when_the_definitions_change(result: SynthResult) -> None:
    annotations = statefulset(result)["spec"]["template"]["metadata"]["annotations"]
    text = credentials_secret(result).plain_inputs()["stringData"]["definitions.json"]
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    # The prometheus.io annotations are the metrics scrape's (tests/components/test_monitoring.py).
    rolling = {k: v for k, v in annotations.items() if not k.startswith("prometheus.io/")}
    assert rolling == {"micromart.io/definitions-hash": digest}


def test_cookie_and_definitions_are_mounted_from_the_secret(result: SynthResult) -> None:
    volumes = {v["name"]: v for v in pod_spec(result)["volumes"]}
    assert volumes["cookie"]["secret"]["secretName"] == "rabbitmq-credentials"
    projected = volumes["config"]["projected"]["sources"]
    assert {"configMap": {"name": "rabbitmq-config"}} in projected
    assert {
        "secret": {
            "name": "rabbitmq-credentials",
            "items": [{"key": "definitions.json", "path": "definitions.json"}],
        }
    } in projected
    mounts = {m["name"]: m["mountPath"] for m in broker(result)["volumeMounts"]}
    settings = broker_settings(result)
    assert settings["definitions.local.path"] == f"{mounts['config']}/definitions.json"


def test_broker_runs_as_a_high_uid_that_owns_its_data(result: SynthResult) -> None:
    context = pod_spec(result)["securityContext"]
    # Checkov CKV_K8S_40; fsGroup makes the data volume writable for that UID.
    assert context["runAsUser"] >= 10000
    assert context["fsGroup"] == context["runAsGroup"] == context["runAsUser"]
    for container in all_containers(result):
        assert container["securityContext"]["runAsUser"] == context["runAsUser"]
    (init,) = pod_spec(result)["initContainers"]
    script = init["command"][-1]
    # A cookie left by the former UID cannot be chmod-ed, only replaced.
    assert script.index("rm -f") < script.index("cp ") < script.index("chmod 600")


# Every rabbitmq.conf setting apart from the peer list, with the value it must have.
BROKER_SETTINGS = {
    "default_queue_type": "quorum",
    "queue_leader_locator": "balanced",
    "cluster_formation.peer_discovery_backend": "classic_config",
    # A partitioned minority stops serving instead of accepting writes that will be lost.
    "cluster_partition_handling": "pause_minority",
    "log.console": "true",
    "log.file": "false",
    "vm_memory_high_watermark.relative": "0.6",
    "disk_free_limit.absolute": "2GB",
    "management.tcp.port": "15672",
    "definitions.import_backend": "local_filesystem",
    "definitions.local.path": "/etc/rabbitmq/definitions.json",
    # Re-imported at boot only when the file changed (a rotated password, a new queue).
    "definitions.skip_if_unchanged": "true",
}


def broker_settings(result: SynthResult) -> dict[str, str]:
    conf = kube_object(result, "ConfigMap", "rabbitmq-config", NAMESPACE)["data"]["rabbitmq.conf"]
    pairs = [line.split("=", 1) for line in conf.splitlines() if line.strip()]
    assert all(len(pair) == 2 for pair in pairs), conf
    settings = {key.strip(): value.strip() for key, value in pairs}
    assert len(settings) == len(pairs), "a key set twice: the last one silently wins"
    return settings


def test_config_sets_exactly_the_documented_broker_settings(result: SynthResult) -> None:
    settings = broker_settings(result)
    others = {k: v for k, v in settings.items() if not k.startswith("cluster_formation.classic")}
    assert others == BROKER_SETTINGS
    # The management port the config opens is the one the container and Service expose.
    ports = {p["name"]: p["containerPort"] for p in broker(result)["ports"]}
    assert int(settings["management.tcp.port"]) == ports["management"]


def test_config_lists_every_peer(result: SynthResult) -> None:
    settings = broker_settings(result)
    replicas = statefulset(result)["spec"]["replicas"]
    headless = statefulset(result)["spec"]["serviceName"]
    peers = {k: v for k, v in settings.items() if k.startswith("cluster_formation.classic")}
    assert peers == {
        f"cluster_formation.classic_config.nodes.{i + 1}": (
            f"rabbit@rabbitmq-{i}.{headless}.{NAMESPACE}.svc.cluster.local"
        )
        for i in range(replicas)
    }


def test_image_comes_from_the_stack_registry_by_digest(result: SynthResult) -> None:
    registry = stack_config(result.stack)["micromart:registry"]["name"]
    pattern = re.compile(rf"^{re.escape(registry)}\.azurecr\.io/rabbitmq@sha256:[0-9a-f]{{64}}$")
    for container in all_containers(result):
        assert pattern.match(container["image"]), container["image"]
    (image,) = owned(result, "docker:index/image:Image")
    assert image.plain_inputs()["imageName"].startswith(f"{registry}.azurecr.io/rabbitmq:")
    (sts,) = owned(result, "kubernetes:apps/v1:StatefulSet")
    assert image.urn in sts.dependencies


def test_production_statefulset_is_protected_and_staging_is_not(
    staging: SynthResult, production: SynthResult
) -> None:
    assert owned(production, "kubernetes:apps/v1:StatefulSet")[0].protect is True
    assert owned(staging, "kubernetes:apps/v1:StatefulSet")[0].protect is False


def test_volumes_come_from_a_retaining_storage_class(result: SynthResult) -> None:
    (storage_class,) = kube_objects(result, "StorageClass")
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["provisioner"] == "disk.csi.azure.com"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    expected_sku = rabbitmq_config(result.stack).get("diskSku", "Premium_LRS")
    assert storage_class["parameters"]["skuName"] == expected_sku
    (claim,) = statefulset(result)["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == storage_class["metadata"]["name"]


def test_production_disks_are_zone_redundant(production: SynthResult) -> None:
    (storage_class,) = kube_objects(production, "StorageClass")
    assert storage_class["parameters"]["skuName"] == "Premium_ZRS"
    (resource,) = owned(production, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert resource.protect
