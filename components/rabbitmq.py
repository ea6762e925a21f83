"""RabbitMQ as plain Kubernetes objects, so the policy pack sees every pod it runs.

A Helm release would hide its rendered pods from CrossGuard; the objects here are the same ones a
chart would render, with quorum queues by default and volumes that outlive the StatefulSet.

The broker's topology and users come from one definitions file (components/rabbitmq_definitions.py)
imported on boot: one user per messaging service with a generated password and rights on exactly
what it publishes or consumes, a read-nothing monitoring user for queue-depth scaling, and an
operators' admin whose password no service gets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import kube
from components import rabbitmq_definitions as defs
from components.config.stack import ImagesConfig, RabbitMqConfig
from components.istio import IstioCrds, istio_resource

core = k8s.core.v1
apps = k8s.apps.v1
netv1 = k8s.networking.v1
meta = k8s.meta.v1

NAME = "rabbitmq"
HEADLESS = "rabbitmq-headless"
# Checkov CKV_K8S_40: a UID of 10000 or more cannot collide with a node's own users. The image
# moves its rabbitmq user there (components/images/rabbitmq/Dockerfile).
RABBITMQ_UID = 10999
AMQP_PORT, EPMD_PORT, DIST_PORT, MANAGEMENT_PORT, METRICS_PORT = (
    5672,
    4369,
    25672,
    15672,
    15692,
)
IMAGE_CONTEXT = "components/images/rabbitmq"
STORAGE_CLASS = "rabbitmq-retain"
CONFIG_DIR = "/etc/rabbitmq"
DEFINITIONS_FILE = "definitions.json"
# KEDA's rabbitmq scaler reads its AMQP URL from this key of the monitoring Secret.
MONITORING_SECRET = "rabbitmq-monitoring"
MONITORING_URL_KEY = "host"
# The AKS KEDA add-on's operator (it runs the scalers, so it polls the queue): namespace
# kube-system, pod label app=keda-operator: AKS troubleshooting runbooks select exactly these
# pods with `kubectl get pods -n kube-system -l app=keda-operator`. Not confirmed in the add-on's
# own manifests: to confirm on a live cluster (README "Event-driven scaling").
KEDA_NAMESPACE = "kube-system"
KEDA_OPERATOR_LABELS = {"app": "keda-operator"}
# Rule whose per-object exemption the queue scaler's PeerAuthentication carries
# (policy/rules/istio.py: honoured only port-level, with a workload selector, PERMISSIVE only).
PEER_STRICT_RULE = "istio-peer-authentication-strict"
DEFINITIONS_ANNOTATION = "micromart.io/definitions-hash"
PASSWORD_LENGTH = 32


@dataclass(frozen=True)
class RabbitMQArgs:
    config: RabbitMqConfig
    namespace: pulumi.Input[str]
    namespace_name: str
    client_namespace: pulumi.Input[str]
    login_server: pulumi.Input[str]
    provider: k8s.Provider
    protect: bool
    # The digest CI built for this commit wins; `build: false` never builds here either.
    images: ImagesConfig = field(default_factory=ImagesConfig)
    # Services that declare `rabbitmq: true`: each gets its own user (named after the service).
    clients: tuple[str, ...] = ()
    # Some service scales on its queue's depth (KEDA): the add-on's operator, outside the mesh,
    # must reach AMQP. Needs `istio` for the port-level PeerAuthentication.
    queue_scalers: bool = False
    istio: IstioCrds | None = None


class RabbitMQ(pulumi.ComponentResource):
    amqp_host: str
    amqp_port: int
    vhost: str
    # Per messaging service (user name = service name): its password, for the Key Vault.
    user_passwords: dict[str, pulumi.Output[str]]
    # The read-nothing user for queue-depth scaling (KEDA), and the operators' admin.
    monitoring_password: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    # In the clients' namespace: the monitoring user's AMQP URL for KEDA's TriggerAuthentication.
    monitoring_secret_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:rabbitmq:RabbitMQ", name, None, opts)
        self._name = name
        self._args = args
        self._labels = kube.labels(NAME)
        self.amqp_host = f"{NAME}.{args.namespace_name}.svc.cluster.local"
        self.amqp_port = AMQP_PORT
        self.vhost = defs.VHOST
        users = defs.users_for(args.clients)
        passwords = {
            user: self._random(f"{name}-{user}-password", PASSWORD_LENGTH) for user in users
        }
        salts = {user: self._salt(f"{name}-{user}-password-salt") for user in users}
        self.user_passwords = {user: passwords[user].result for user in sorted(args.clients)}
        self.monitoring_password = passwords[defs.MONITORING_USER].result
        self.admin_password = passwords[defs.ADMIN_USER].result
        cookie = self._random(f"{name}-erlang-cookie", 64)
        image = self._image()
        config_map = self._config_map()
        definitions = _definitions(
            args.clients,
            {user: passwords[user].result for user in users},
            {user: salts[user].hex for user in users},
        )
        credentials = self._credentials(definitions, cookie.result)
        self.monitoring_secret_name = self._monitoring_secret()
        service_account = core.ServiceAccount(
            f"{name}-sa",
            metadata=kube.metadata(NAME, args.namespace, self._labels),
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        self._services()
        self._statefulset(image, config_map, credentials, service_account, definitions)
        self._disruption_budget()
        self._network_policy()
        if args.queue_scalers:
            self._keda_plaintext_amqp()
        self.register_outputs(
            {
                "amqp_host": self.amqp_host,
                "vhost": self.vhost,
                "user_passwords": self.user_passwords,
                "monitoring_secret_name": self.monitoring_secret_name,
            }
        )

    def _k8s(self, *depends_on: pulumi.Resource, protect: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self,
            provider=self._args.provider,
            depends_on=list(depends_on),
            protect=protect,
        )

    def _random(self, resource_name: str, length: int) -> random.RandomPassword:
        return random.RandomPassword(
            resource_name,
            args=random.RandomPasswordArgs(length=length, special=False),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _salt(self, resource_name: str) -> random.RandomId:
        # Kept in state like the password, so the hash (and the definitions file) only changes
        # when the password does: an unchanged file is not re-imported on boot.
        return random.RandomId(
            resource_name,
            args=random.RandomIdArgs(byte_length=defs.SALT_BYTES),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _image(self) -> pulumi.Output[str]:
        tag = self._args.config.image_tag
        digest = self._args.images.digests.get(NAME)
        if digest is not None:
            return pulumi.Output.concat(self._args.login_server, f"/{NAME}@{digest}")
        if not self._args.images.build:
            return pulumi.Output.concat(self._args.login_server, f"/{NAME}:{tag}")
        image = docker.Image(
            f"{self._name}-image",
            args=docker.ImageArgs(
                image_name=pulumi.Output.concat(self._args.login_server, f"/{NAME}:{tag}"),
                build=docker.DockerBuildArgs(
                    context=IMAGE_CONTEXT,
                    platform="linux/amd64",
                    args={"RABBITMQ_TAG": tag},
                ),
                registry=docker.RegistryArgs(server=self._args.login_server),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return image.repo_digest

    def _peer_nodes(self) -> list[str]:
        namespace = self._args.namespace_name
        return [
            f"rabbit@{NAME}-{index}.{HEADLESS}.{namespace}.svc.cluster.local"
            for index in range(self._args.config.replicas)
        ]

    def _config_map(self) -> core.ConfigMap:
        # Peers are listed up front (classic config) so discovery needs no Kubernetes API token.
        peers = [
            f"cluster_formation.classic_config.nodes.{index} = {node}"
            for index, node in enumerate(self._peer_nodes(), start=1)
        ]
        conf = "\n".join(
            [
                "default_queue_type = quorum",
                "queue_leader_locator = balanced",
                "cluster_formation.peer_discovery_backend = classic_config",
                *peers,
                "cluster_partition_handling = pause_minority",
                "log.console = true",
                "log.file = false",
                "vm_memory_high_watermark.relative = 0.6",
                "disk_free_limit.absolute = 2GB",
                f"management.tcp.port = {MANAGEMENT_PORT}",
                # Users, vhost, exchanges, queues and permissions come from the definitions file,
                # imported at boot only when its content changed (rabbitmq.com "Schema Definition
                # Export and Import", "Avoid Boot Time Import if Definition Contents Have Not
                # Changed"; the keys exist since 3.10, see rabbit.schema).
                "definitions.import_backend = local_filesystem",
                f"definitions.local.path = {CONFIG_DIR}/{DEFINITIONS_FILE}",
                "definitions.skip_if_unchanged = true",
                "",
            ]
        )
        return core.ConfigMap(
            f"{self._name}-config",
            metadata=kube.metadata(f"{NAME}-config", self._args.namespace, self._labels),
            data={
                "rabbitmq.conf": conf,
                "enabled_plugins": "[rabbitmq_management,rabbitmq_prometheus].\n",
            },
            opts=self._k8s(),
        )

    def _credentials(
        self, definitions: pulumi.Output[str], cookie: pulumi.Output[str]
    ) -> core.Secret:
        # A Secret, not the ConfigMap: the definitions carry password hashes.
        return core.Secret(
            f"{self._name}-credentials",
            metadata=kube.metadata(f"{NAME}-credentials", self._args.namespace, self._labels),
            type="Opaque",
            string_data={
                DEFINITIONS_FILE: kube.secret(definitions),
                "erlang-cookie": kube.secret(cookie),
            },
            opts=self._k8s(),
        )

    def _monitoring_secret(self) -> pulumi.Output[str]:
        url = self.monitoring_password.apply(
            lambda value: (
                f"amqp://{defs.MONITORING_USER}:{value}@{self.amqp_host}:{AMQP_PORT}/{defs.VHOST}"
            )
        )
        secret = core.Secret(
            f"{self._name}-monitoring-secret",
            metadata=kube.metadata(MONITORING_SECRET, self._args.client_namespace, self._labels),
            type="Opaque",
            string_data={MONITORING_URL_KEY: kube.secret(url)},
            opts=self._k8s(),
        )
        return kube.name_of(secret)

    def _services(self) -> None:
        core.Service(
            f"{self._name}-headless",
            metadata=kube.metadata(HEADLESS, self._args.namespace, self._labels),
            spec=core.ServiceSpecArgs(
                cluster_ip="None",
                # Peers must resolve each other before they are ready, or the cluster never forms.
                publish_not_ready_addresses=True,
                selector=self._labels,
                ports=[
                    core.ServicePortArgs(name="epmd", port=EPMD_PORT, target_port=EPMD_PORT),
                    core.ServicePortArgs(name="tcp-amqp", port=AMQP_PORT, target_port=AMQP_PORT),
                    core.ServicePortArgs(name="tcp-dist", port=DIST_PORT, target_port=DIST_PORT),
                ],
            ),
            opts=self._k8s(),
        )
        core.Service(
            f"{self._name}-client",
            metadata=kube.metadata(NAME, self._args.namespace, self._labels),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=self._labels,
                ports=[
                    core.ServicePortArgs(name="tcp-amqp", port=AMQP_PORT, target_port=AMQP_PORT),
                    core.ServicePortArgs(
                        name="http-management",
                        port=MANAGEMENT_PORT,
                        target_port=MANAGEMENT_PORT,
                    ),
                ],
            ),
            opts=self._k8s(),
        )

    def _storage_class(self) -> pulumi.Output[str]:
        # Retain: deleting a claim (or the whole stack) must never delete queue data with it.
        storage_class = k8s.storage.v1.StorageClass(
            f"{self._name}-storage",
            metadata=meta.ObjectMetaArgs(name=STORAGE_CLASS, labels=self._labels),
            provisioner="disk.csi.azure.com",
            parameters={"skuName": self._args.config.disk_sku, "cachingMode": "ReadOnly"},
            reclaim_policy="Retain",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=self._k8s(protect=self._args.protect),
        )
        return storage_class.metadata.apply(lambda m: m.name or STORAGE_CLASS)

    def _statefulset(
        self,
        image: pulumi.Output[str],
        config_map: core.ConfigMap,
        credentials: core.Secret,
        service_account: core.ServiceAccount,
        definitions: pulumi.Output[str],
    ) -> None:
        config = self._args.config
        storage_class_name = self._storage_class()
        tmp_volume, tmp_mount = kube.tmp_volume()
        data_mount = core.VolumeMountArgs(name="data", mount_path="/var/lib/rabbitmq")
        apps.StatefulSet(
            f"{self._name}-statefulset",
            metadata=kube.metadata(NAME, self._args.namespace, self._labels),
            spec=apps.StatefulSetSpecArgs(
                service_name=HEADLESS,
                replicas=config.replicas,
                pod_management_policy="Parallel",
                selector=meta.LabelSelectorArgs(match_labels=self._labels),
                persistent_volume_claim_retention_policy=(
                    apps.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_deleted="Retain", when_scaled="Retain"
                    )
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(
                        labels=self._labels,
                        annotations={
                            # Definitions are imported at boot only: a changed file (a rotated
                            # password) must roll the brokers, one at a time as the PDB allows.
                            # The re-import replaces an existing user's hash (tests/integration/
                            # messaging/test_definitions_on_restart.py, on a restart over the same
                            # data).
                            DEFINITIONS_ANNOTATION: _digest(definitions),
                            # Observability: the rabbitmq_prometheus plugin's per-object endpoint
                            # (a queue label on every queue metric), merged by the Istio agent.
                            **kube.scrape_annotations(METRICS_PORT, "/metrics/per-object"),
                        },
                    ),
                    spec=core.PodSpecArgs(
                        service_account_name=service_account.metadata.apply(lambda m: m.name),
                        automount_service_account_token=False,
                        security_context=kube.pod_security_context(RABBITMQ_UID),
                        termination_grace_period_seconds=120,
                        topology_spread_constraints=kube.spread_constraints(
                            self._labels, "ScheduleAnyway"
                        ),
                        init_containers=[self._cookie_init_container(image, data_mount)],
                        containers=[self._broker_container(image, data_mount, tmp_mount)],
                        volumes=[
                            tmp_volume,
                            core.VolumeArgs(
                                name="config",
                                projected=core.ProjectedVolumeSourceArgs(
                                    sources=[
                                        core.VolumeProjectionArgs(
                                            config_map=core.ConfigMapProjectionArgs(
                                                name=config_map.metadata.apply(lambda m: m.name)
                                            )
                                        ),
                                        core.VolumeProjectionArgs(
                                            secret=core.SecretProjectionArgs(
                                                name=credentials.metadata.apply(lambda m: m.name),
                                                items=[
                                                    core.KeyToPathArgs(
                                                        key=DEFINITIONS_FILE,
                                                        path=DEFINITIONS_FILE,
                                                    )
                                                ],
                                            )
                                        ),
                                    ]
                                ),
                            ),
                            core.VolumeArgs(
                                name="cookie",
                                secret=core.SecretVolumeSourceArgs(
                                    secret_name=credentials.metadata.apply(lambda m: m.name),
                                    items=[core.KeyToPathArgs(key="erlang-cookie", path="cookie")],
                                    default_mode=0o400,
                                ),
                            ),
                        ],
                    ),
                ),
                volume_claim_templates=[
                    core.PersistentVolumeClaimArgs(
                        metadata=meta.ObjectMetaArgs(name="data", labels=self._labels),
                        spec=core.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=storage_class_name,
                            resources=core.VolumeResourceRequirementsArgs(
                                requests={"storage": config.storage}
                            ),
                        ),
                    )
                ],
            ),
            opts=self._k8s(protect=self._args.protect),
        )

    def _cookie_init_container(
        self, image: pulumi.Input[str], data_mount: core.VolumeMountArgs
    ) -> core.ContainerArgs:
        # Erlang refuses a cookie file that others can read, and secret volumes are read-only,
        # so the cookie is copied onto the data volume with owner-only permissions. It is removed
        # first: a volume written by the image's former UID (999) holds a cookie owned by that
        # UID, which this one may delete (fsGroup makes the directory group-writable) but not
        # chmod.
        return core.ContainerArgs(
            name="erlang-cookie",
            image=image,
            command=[
                "sh",
                "-c",
                "rm -f /var/lib/rabbitmq/.erlang.cookie"
                " && cp /cookie/cookie /var/lib/rabbitmq/.erlang.cookie"
                " && chmod 600 /var/lib/rabbitmq/.erlang.cookie",
            ],
            security_context=kube.container_security_context(RABBITMQ_UID),
            resources=kube.resources("50m", "32Mi", "100m", "64Mi"),
            volume_mounts=[
                data_mount,
                core.VolumeMountArgs(name="cookie", mount_path="/cookie", read_only=True),
            ],
        )

    def _broker_container(
        self,
        image: pulumi.Input[str],
        data_mount: core.VolumeMountArgs,
        tmp_mount: core.VolumeMountArgs,
    ) -> core.ContainerArgs:
        resources = self._args.config.resources
        namespace = self._args.namespace_name
        return core.ContainerArgs(
            name=NAME,
            image=image,
            ports=[
                core.ContainerPortArgs(name="amqp", container_port=AMQP_PORT),
                core.ContainerPortArgs(name="epmd", container_port=EPMD_PORT),
                core.ContainerPortArgs(name="dist", container_port=DIST_PORT),
                core.ContainerPortArgs(name="management", container_port=MANAGEMENT_PORT),
                core.ContainerPortArgs(name="metrics", container_port=METRICS_PORT),
            ],
            env=[
                core.EnvVarArgs(
                    name="POD_NAME",
                    value_from=core.EnvVarSourceArgs(
                        field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.name")
                    ),
                ),
                core.EnvVarArgs(name="RABBITMQ_USE_LONGNAME", value="true"),
                core.EnvVarArgs(
                    name="RABBITMQ_NODENAME",
                    value=f"rabbit@$(POD_NAME).{HEADLESS}.{namespace}.svc.cluster.local",
                ),
            ],
            security_context=kube.container_security_context(RABBITMQ_UID),
            resources=kube.resources(
                resources.requests.cpu,
                resources.requests.memory,
                resources.limits.cpu,
                resources.limits.memory,
            ),
            startup_probe=_diagnostics_probe("ping", period=10, failures=30),
            readiness_probe=_diagnostics_probe("check_port_connectivity", period=10, failures=3),
            liveness_probe=_diagnostics_probe("ping", period=30, failures=3),
            volume_mounts=[
                data_mount,
                tmp_mount,
                core.VolumeMountArgs(name="config", mount_path="/etc/rabbitmq", read_only=True),
            ],
        )

    def _disruption_budget(self) -> None:
        # One node at a time: with three replicas a quorum queue keeps its majority.
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata=kube.metadata(NAME, self._args.namespace, self._labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=meta.LabelSelectorArgs(match_labels=self._labels),
            ),
            opts=self._k8s(),
        )

    def _network_policy(self) -> None:
        peers = netv1.NetworkPolicyPeerArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels=self._labels)
        )
        netv1.NetworkPolicy(
            f"{self._name}-netpol",
            metadata=kube.metadata(NAME, self._args.namespace, self._labels),
            spec=netv1.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(match_labels=self._labels),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    netv1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            kube.namespace_peer(
                                self._args.client_namespace,
                                {kube.MESSAGING_CLIENT_LABEL: "true"},
                            )
                        ],
                        ports=kube.tcp_ports(AMQP_PORT),
                    ),
                    netv1.NetworkPolicyIngressRuleArgs(
                        from_=[peers],
                        ports=kube.tcp_ports(EPMD_PORT, DIST_PORT, AMQP_PORT),
                    ),
                    # Observability: the managed Prometheus scraper, on the Istio agent's port.
                    kube.metrics_scraper_rule(),
                    *self._keda_ingress(),
                ],
                egress=[
                    netv1.NetworkPolicyEgressRuleArgs(
                        to=[peers], ports=kube.tcp_ports(EPMD_PORT, DIST_PORT)
                    )
                ],
            ),
            opts=self._k8s(),
        )

    def _keda_ingress(self) -> list[netv1.NetworkPolicyIngressRuleArgs]:
        # KEDA's plaintext AMQP carries no mesh identity (see _keda_plaintext_amqp), so this rule
        # is what limits who may use the PERMISSIVE port: the operator's pods, on 5672 only.
        if not self._args.queue_scalers:
            return []
        return [
            netv1.NetworkPolicyIngressRuleArgs(
                from_=[kube.namespace_peer(KEDA_NAMESPACE, KEDA_OPERATOR_LABELS)],
                ports=kube.tcp_ports(AMQP_PORT),
            )
        ]

    def _keda_plaintext_amqp(self) -> None:
        """STRICT for the broker pods except AMQP, which also accepts the KEDA operator's plaintext.

        The operator runs in kube-system without a sidecar; under the namespace's STRICT policy
        its passive queue.declare would be refused and the scaler would never scale. Istio applies
        portLevelMtls only to a policy with a workload selector, and the port is the workload's
        (container) port (istio.io reference, security PeerAuthentication; the vendored CRD's
        rule "portLevelMtls requires selector"); a selector policy overrides the namespace one
        for these pods only. Plaintext from KEDA carries no principal, so no AuthorizationPolicy
        could name it as a caller: the NetworkPolicy rule in _keda_ingress is the control for
        this port. Any AuthorizationPolicy added for the broker must keep naming its callers.
        """
        istio = self._args.istio
        if istio is None:
            raise ValueError("RabbitMQArgs.queue_scalers needs the Istio CRDs (RabbitMQArgs.istio)")
        reason = (
            "KEDA add-on operator (kube-system, outside the mesh) reads queue depth over AMQP; "
            "NetworkPolicy admits only its pods on 5672"
        )
        istio_resource(
            f"{self._name}-keda-amqp-mtls",
            istio,
            api_version="security.istio.io/v1",
            kind="PeerAuthentication",
            metadata=kube.metadata(
                f"{NAME}-keda-amqp",
                self._args.namespace,
                self._labels,
                annotations={f"exempt.policy.micromart.io/{PEER_STRICT_RULE}": reason},
            ),
            spec={
                "selector": {"matchLabels": dict(self._labels)},
                "mtls": {"mode": "STRICT"},
                "portLevelMtls": {str(AMQP_PORT): {"mode": "PERMISSIVE"}},
            },
            opts=self._k8s(),
        )


def _definitions(
    clients: tuple[str, ...],
    passwords: dict[str, pulumi.Output[str]],
    salts: dict[str, pulumi.Output[str]],
) -> pulumi.Output[str]:
    """The rendered definitions file; secret, since it derives from the passwords."""
    users = sorted(passwords)

    def render(values: list[str]) -> str:
        hashes = {
            user: defs.password_hash(password, bytes.fromhex(salt))
            for user, password, salt in zip(
                users, values[: len(users)], values[len(users) :], strict=True
            )
        }
        return defs.render(defs.definitions(clients, hashes))

    inputs = [passwords[user] for user in users] + [salts[user] for user in users]
    return kube.secret(pulumi.Output.all(*inputs).apply(render))


def _digest(text: pulumi.Output[str]) -> pulumi.Output[str]:
    return kube.secret(text.apply(lambda value: hashlib.sha256(value.encode()).hexdigest()[:16]))


def _diagnostics_probe(check: str, *, period: int, failures: int) -> core.ProbeArgs:
    return core.ProbeArgs(
        exec_=core.ExecActionArgs(command=["rabbitmq-diagnostics", "--silent", check]),
        period_seconds=period,
        timeout_seconds=10,
        failure_threshold=failures,
    )
