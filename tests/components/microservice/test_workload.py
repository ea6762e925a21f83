"""Workload: probes on the app's real paths and port, replicas vs. the autoscaler, hardening."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.components.microservice.objects import (
    app_deployments,
    assert_hpa_and_replicas_consistent,
    http_port,
    mounted_secret_files,
    only_container,
    pod_environment,
    pod_labels,
    probes,
    required_env,
    required_secrets,
    resolve_port,
    result_for,
    selects,
)
from tests.components.microservice.sources import (
    APP_NS,
    DIGEST,
    MICROSERVICE,
    STACKS,
    autoscaled,
    effective,
    login_server,
    service_names,
    service_spec,
)
from tests.services.apprunner import SERVICES_DIR, fetch, run_app
from tests.synthesis import (
    kube_object,
    kube_objects,
    owning_service,
)
from tools.synth import SynthResult

LISTEN_PORTS = frozenset({"PORT", "METRICS_PORT"})


@pytest.mark.parametrize("stack", STACKS)
def test_probe_port_is_the_http_container_port_and_the_port_env(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    deployments = app_deployments(result)
    assert sorted(deployments) == list(service_names())
    for name, deployment in deployments.items():
        container = only_container(deployment)
        port = http_port(container)
        assert port == effective(stack, name, "port", default=8080), name
        declared = {
            kind
            for kind in ("startup", "readiness", "liveness")
            if effective(stack, name, "probes", kind, default=None)
        }
        assert set(probes(container)) == declared, name  # each declared probe, none invented
        for kind, probe in probes(container).items():
            assert resolve_port(container, probe["port"]) == port, f"{name} {kind}"
            assert probe["path"] == effective(stack, name, "probes", kind), f"{name} {kind}"
        env = pod_environment(result, deployment)
        assert env.get("PORT") == str(port), f"{name}: the app is not told to listen on {port}"
        missing = [var for var in required_env(env) if not env.get(var)]
        assert missing == [], f"{name}: readiness can never pass, nothing provides {missing}"


@pytest.mark.parametrize("service", service_names())
def test_app_answers_200_on_exactly_the_declared_probe_paths(
    production: SynthResult, service: str, tmp_path: Path
) -> None:
    deployment = app_deployments(production)[service]
    container = only_container(deployment)
    declared = probes(container)
    env = pod_environment(production, deployment)
    # The manifest's port wiring is checked above; here the app gets a free loopback port, and
    # the files its SecretProviderClass mounts (dummies) in a folder of its own.
    files = mounted_secret_files(production, deployment)
    assert sorted(required_secrets(env)) == files
    # Listening ports are free loopback ports (apprunner): apps run side by side under xdist.
    run_env = {key: value for key, value in env.items() if key not in LISTEN_PORTS}
    if files:
        run_env["SECRETS_DIR"] = str(tmp_path)
        for file in files:
            (tmp_path / file).write_text(f"dummy-{file}\n", encoding="utf-8")
    with run_app(SERVICES_DIR / service, run_env) as url:
        answers = {kind: fetch(url + probe["path"])[0] for kind, probe in declared.items()}
    expected = dict.fromkeys(declared, 200)
    if "RABBITMQ_HOST" in env or "POSTGRES_HOST" in env:
        # No broker or database answers here, and readiness says so; with them it is 200
        # (tests/integration runs the apps against a real RabbitMQ and PostgreSQL).
        expected["readiness"] = 503
    assert answers == expected
    # A secret the driver has not mounted keeps the pod out of the endpoints, not dead.
    if files:
        (tmp_path / files[0]).unlink()
        assert_unready_but_live(service, run_env, declared)
        (tmp_path / files[0]).write_text("dummy\n", encoding="utf-8")

    # The readiness path must be the one that reflects configuration: take away one required
    # variable and readiness (only) fails. A readiness probe pointed at the liveness path would
    # pass this test's first half and fail here.
    required = required_env(env)
    if not required:
        return
    broken = {key: value for key, value in run_env.items() if key != required[0]}
    assert_unready_but_live(service, broken, declared)


def assert_unready_but_live(
    service: str, env: dict[str, str], declared: dict[str, dict[str, Any]]
) -> None:
    with run_app(SERVICES_DIR / service, env) as url:
        assert fetch(url + declared["readiness"]["path"])[0] == 503
        assert fetch(url + declared["liveness"]["path"])[0] == 200


def test_production_autoscales_every_service_without_deployment_replicas(
    production: SynthResult,
) -> None:
    assert all(autoscaled("production", name) for name in service_names())
    assert_hpa_and_replicas_consistent(production)
    hpas = {h["metadata"]["name"]: h for h in kube_objects(production, "HorizontalPodAutoscaler")}
    # A spec that scales on its queue gets a KEDA ScaledObject instead (test_scaling).
    queue_scaled = {
        n
        for n in service_names()
        if effective("production", n, "autoscaling", "queue", default=None)
    }
    assert sorted(hpas) == [n for n in service_names() if n not in queue_scaled]
    scaled_objects = {s["metadata"]["name"] for s in kube_objects(production, "ScaledObject")}
    assert scaled_objects == queue_scaled
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert "replicas" not in app_deployments(production)[name]["spec"]
        scaling = ("autoscaling",)
        assert spec["minReplicas"] == effective("production", name, *scaling, "minReplicas")
        assert spec["maxReplicas"] == effective("production", name, *scaling, "maxReplicas")
        metrics = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"] if m}
        assert {m["type"] for m in spec["metrics"]} == {"Resource"}
        assert metrics == {
            "cpu": {
                "type": "Utilization",
                "averageUtilization": effective(
                    "production", name, *scaling, "targetCpuUtilization"
                ),
            },
            "memory": {
                "type": "Utilization",
                "averageUtilization": effective(
                    "production", name, *scaling, "targetMemoryUtilization"
                ),
            },
        }
        behavior = spec["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == effective(
            "production", name, *scaling, "scaleUpStabilizationSeconds"
        )
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == effective(
            "production", name, *scaling, "scaleDownStabilizationSeconds"
        )


def test_staging_sets_replicas_and_has_no_autoscaler(staging: SynthResult) -> None:
    assert not any(autoscaled("staging", name) for name in service_names())
    assert kube_objects(staging, "HorizontalPodAutoscaler") == []
    replicas = {name: d["spec"].get("replicas") for name, d in app_deployments(staging).items()}
    assert replicas == {name: effective("staging", name, "replicas") for name in service_names()}


def in_force(pod: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """The container's security setting where it has one, else the pod's (Kubernetes' rule)."""
    pod_context = pod.get("securityContext") or {}
    return container["securityContext"].get(field, pod_context.get(field))


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_are_hardened_as_the_spec_says(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    deployments = app_deployments(result)
    services = {s["metadata"]["name"]: s for s in kube_objects(result, "Service")}
    budgets = kube_objects(result, "PodDisruptionBudget")
    accounts = {a["metadata"]["name"]: a for a in kube_objects(result, "ServiceAccount")}
    for name in service_names():
        deployment = deployments[name]
        labels = pod_labels(deployment)
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        container = only_container(deployment)
        where = f"{stack}/{name}"

        assert selects(spec["selector"], labels), where
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }, where
        spread = pod.get("topologySpreadConstraints") or []
        assert {c["topologyKey"] for c in spread} >= {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }, where
        assert all(selects(c["labelSelector"], labels) for c in spread), where

        context = container["securityContext"]
        assert in_force(pod, container, "runAsNonRoot") is True, where
        assert (in_force(pod, container, "runAsUser") or 0) > 0, where
        seccomp = in_force(pod, container, "seccompProfile") or {}
        assert seccomp.get("type") == "RuntimeDefault", where
        assert context.get("allowPrivilegeEscalation") is False, where
        assert not context.get("privileged"), where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not context.get("capabilities", {}).get("add"), where
        assert context.get("readOnlyRootFilesystem") is True, where
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        tmp = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], where

        assert container["resources"] == {
            kind: dict(effective(stack, name, "resources", kind)) for kind in ("requests", "limits")
        }, where

        image = container["image"]
        assert image.startswith(f"{login_server(stack)}/{name}@sha256:"), where
        assert DIGEST.search(image), where

        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False, where
        # Explicitly off on the pod too: the pod's field wins over the account's.
        assert pod.get("automountServiceAccountToken") is False, where

        service = services[name]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", where
        assert selects({"matchLabels": service["spec"]["selector"]}, labels), where
        for port in service["spec"]["ports"]:
            assert resolve_port(container, port["targetPort"]) == http_port(container), where

        covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, where
        budget = covering[0]["spec"]
        replicas = (
            effective(stack, name, "autoscaling", "minReplicas")
            if autoscaled(stack, name)
            else effective(stack, name, "replicas")
        )
        if "maxUnavailable" in budget:
            assert int(budget["maxUnavailable"]) >= 1, where  # drains can proceed
        else:
            assert int(budget["minAvailable"]) < replicas, where


def resources_per_service(result: SynthResult) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for resource in result.program_resources:
        service = owning_service(result, resource)
        if service is not None and resource.type != MICROSERVICE:
            counts.setdefault(service, Counter())[resource.type.rsplit(":", 1)[-1]] += 1
    return counts


def test_resources_per_service_match_the_stack_mode(
    staging: SynthResult, production: SynthResult
) -> None:
    common = {
        "Image": 1,
        # The scheduled purge of the service's own repository (components/registry_cleanup.py).
        "Task": 1,
        "ServiceAccount": 1,
        "ConfigMap": 1,
        "Deployment": 1,
        "Service": 1,
        "PodDisruptionBudget": 1,
        "NetworkPolicy": 1,
        "DestinationRule": 1,
        "VirtualService": 1,
        "AuthorizationPolicy": 1,
        # Its workload identity (components/workload_identity.py).
        "WorkloadIdentity": 1,
        "UserAssignedIdentity": 1,
        "FederatedIdentityCredential": 1,
    }
    # Secret files per service (its database role's and broker user's passwords): one Secrets
    # User grant each, and a SecretProviderClass if any; gateway reads nothing.
    secrets = {"orders": 2, "catalog": 1, "inventory": 2, "notifications": 1, "gateway": 0}
    for stack, result in (("staging", staging), ("production", production)):
        counts = resources_per_service(result)
        assert sorted(counts) == list(service_names())
        for name, found in counts.items():
            expected = Counter(common)
            queue = effective(stack, name, "autoscaling", "queue", default=None)
            if autoscaled(stack, name) and queue:
                expected.update({"ScaledObject": 1, "TriggerAuthentication": 1})
            elif autoscaled(stack, name):
                expected["HorizontalPodAutoscaler"] += 1
            if service_spec(name).get("public"):
                expected.update({"Gateway": 1, "VirtualService": 1})
                # The certificate sync (components/gateway_tls.py): its own identity reading
                # one secret, SecretProviderClass, pods, PDB and deny-all NetworkPolicy.
                expected.update(
                    {
                        "GatewayTls": 1,
                        "WorkloadIdentity": 1,
                        "UserAssignedIdentity": 1,
                        "FederatedIdentityCredential": 1,
                        "RoleAssignment": 1,
                        "ServiceAccount": 1,
                        "SecretProviderClass": 1,
                        "Deployment": 1,
                        "PodDisruptionBudget": 1,
                        "NetworkPolicy": 1,
                    }
                )
            if secrets[name]:
                expected.update({"RoleAssignment": secrets[name], "SecretProviderClass": 1})
            if service_spec(name).get("postgres"):
                # Its migration Job and the policy that lets only that Job's pod reach Postgres.
                expected.update({"Job": 1, "NetworkPolicy": 1})
            assert found == expected, f"{stack}/{name}"


CONFIG_HASH = "micromart.io/config-hash"


def config_hashes(result: SynthResult) -> dict[str, str]:
    return {
        name: deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
        for name, deployment in app_deployments(result).items()
    }


def config_map_of(result: SynthResult, deployment: dict[str, Any]) -> dict[str, str]:
    (source,) = only_container(deployment)["envFrom"]
    name = source["configMapRef"]["name"]
    data: dict[str, str] = kube_object(result, "ConfigMap", name, APP_NS)["data"]
    return data


def test_a_config_change_rolls_that_service_and_only_it(
    production: SynthResult, catalog_change: Callable[[str], SynthResult]
) -> None:
    changed = catalog_change("stack-env")
    catalog = app_deployments(changed)["catalog"]
    assert config_map_of(changed, catalog)["FEATURE_FLAG"] == "on"
    before, after = config_hashes(production), config_hashes(changed)
    assert before["catalog"] != after["catalog"], "pods would keep the old environment"
    del before["catalog"], after["catalog"]
    assert after == before


def test_the_config_hash_is_a_function_of_the_config_data(
    staging: SynthResult, production: SynthResult, canary_production: SynthResult
) -> None:
    """Same ConfigMap data, same hash (a canary shares its stable track's); different data,
    different hash (staging's log level differs from production's)."""
    by_data: dict[str, set[str]] = {}
    for result in (staging, production, canary_production):
        for deployment in app_deployments(result).values():
            data = json.dumps(config_map_of(result, deployment), sort_keys=True)
            annotation = deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
            by_data.setdefault(data, set()).add(annotation)
    assert all(len(hashes) == 1 for hashes in by_data.values())
    all_hashes = [next(iter(hashes)) for hashes in by_data.values()]
    assert len(set(all_hashes)) == len(all_hashes) == 2 * len(service_names())
