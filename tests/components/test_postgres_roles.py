"""The database bootstrap (DatabaseRoles) and the services' migration Jobs, as synthesized.

What a real server does with them is in tests/integration/test_postgres.py; here: who may read
which secret, what waits for what, and when a Job is replaced.
"""

from __future__ import annotations

from typing import Any

from tests.synthesis import dependency_closure, kube_object, kube_objects, of_type
from tools.synth import SynthResult

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
VAULT_SECRET = "azure-native:keyvault:Secret"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DATABASE = "azure-native:dbforpostgresql:Database"
DATABASE_ROLES = "micromart:postgres:DatabaseRoles"
BOOTSTRAP_GRANT = "::micromart-db-bootstrap-reads-"
DATABASE_SERVICES = ("catalog", "inventory", "orders")


def jobs(result: SynthResult) -> dict[str, Any]:
    return {j.name: j for j in of_type(result, JOB)}


def bootstrap_job(result: SynthResult) -> dict[str, Any]:
    (job,) = [j for j in kube_objects(result, "Job") if j["metadata"]["name"].startswith("db-")]
    return job


def test_bootstrap_identity_reads_exactly_the_admin_and_role_passwords(
    result: SynthResult,
) -> None:
    secret_ids = {r.id: r.plain_inputs()["secretName"] for r in of_type(result, VAULT_SECRET)}
    (roles,) = of_type(result, DATABASE_ROLES)
    (identity,) = [
        r for r in of_type(result, "micromart:identity:WorkloadIdentity") if r.parent == roles.urn
    ]
    grants = [g for g in of_type(result, ROLE_ASSIGNMENT) if BOOTSTRAP_GRANT in g.urn]
    assert all(g.parent == identity.urn for g in grants)
    readable = sorted(secret_ids[g.plain_inputs()["scope"]] for g in grants)
    assert readable == sorted(
        ["postgres-admin-password", *(f"{s}-postgres-password" for s in DATABASE_SERVICES)]
    )
    # The admin password is readable by this identity and nobody else.
    admin = [
        g
        for g in of_type(result, ROLE_ASSIGNMENT)
        if secret_ids.get(g.plain_inputs()["scope"]) == "postgres-admin-password"
    ]
    assert admin and all(g in grants for g in admin)
    provider_class = kube_object(result, "SecretProviderClass", "db-bootstrap-secrets")
    assert "postgres-admin-password" in provider_class["spec"]["parameters"]["objects"]


def test_bootstrap_renders_one_role_per_service_database(result: SynthResult) -> None:
    databases = {
        r.name.removesuffix("-db").split("-", 1)[1]: r.plain_inputs()["databaseName"]
        for r in of_type(result, DATABASE)
    }
    (container,) = bootstrap_job(result)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BOOTSTRAP_ROLES"] == ",".join(f"{s}={d}" for s, d in sorted(databases.items()))
    assert (env["POSTGRES_USER"], env["POSTGRES_DATABASE"]) == ("micromartadmin", "postgres")
    assert env["POSTGRES_SSLMODE"] == "verify-full"
    assert container["image"].split("@")[0].endswith(".azurecr.io/db-bootstrap")


def test_jobs_run_once_without_sidecar_or_token_and_are_replaced_when_failed(
    result: SynthResult,
) -> None:
    found = kube_objects(result, "Job")
    assert sorted(j["metadata"]["name"].rsplit("-", 1)[0] for j in found) == [
        "catalog-migrate",
        "db-bootstrap",
        "inventory-migrate",
        "orders-migrate",
    ]
    for job in found:
        template = job["spec"]["template"]
        assert job["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
        assert "ttlSecondsAfterFinished" not in job["spec"]
        assert template["spec"]["restartPolicy"] == "Never"
        assert template["spec"]["automountServiceAccountToken"] is False
        assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_migration_runs_as_the_service_from_its_image_after_the_bootstrap(
    result: SynthResult,
) -> None:
    by_name = jobs(result)
    bootstrap = by_name["micromart-db-bootstrap"]
    deployments = {d.name: d for d in of_type(result, DEPLOYMENT)}
    for service in DATABASE_SERVICES:
        job = by_name[f"{service}-migrate"]
        spec = job.plain_inputs()["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        deployment = deployments[f"{service}-stable"].plain_inputs()
        (app,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == app["image"]
        assert container["command"] == ["python", "-m", "app.migrate"]
        assert spec["serviceAccountName"] == service
        assert container["envFrom"] == app["envFrom"]
        assert bootstrap.urn in dependency_closure(result, job.urn)
        # Every track of the service waits for its migration, nothing else does.
        for name, other in deployments.items():
            waits = job.urn in dependency_closure(result, other.urn)
            assert waits == name.startswith(f"{service}-"), name
        # The Job's name follows the image: a new digest is a new Job.
        digest = job.plain_inputs()["metadata"]["name"].removeprefix(f"{service}-migrate-")
        assert len(digest) == 10


def test_only_the_jobs_pods_reach_postgres_and_nothing_reaches_them(result: SynthResult) -> None:
    for name in ("db-bootstrap", *(f"{s}-migrate" for s in DATABASE_SERVICES)):
        policy = kube_object(result, "NetworkPolicy", name)["spec"]
        assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert policy["ingress"] == []
        ((rule,),) = [r["to"] for r in policy["egress"]]
        assert rule["ipBlock"]["cidr"].count("/") == 1
        assert [r["ports"] for r in policy["egress"]] == [[{"protocol": "TCP", "port": 5432}]]
