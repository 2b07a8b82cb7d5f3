"""The platform inventory (`platform.yaml`): strict models plus cross-field and cross-cluster rules.

Parsing and the rules are pure; reading the file is the caller's job (app.inventory).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from greenfield.core.secret_shapes import secret_key, secret_value
from greenfield.errors import quoted

SETTING_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")

# Flux's GitRepository accepts http, https and ssh URLs (its CRD's spec.url pattern); GIT_URL lands there
GIT_URL = re.compile(r"^(?:https?|ssh)://(?:[A-Za-z0-9._~%!$&'()*+,;=-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[^\s]*$")
GIT_BRANCH = re.compile(r"^(?![-/.])(?!.*(?:\.\.|//|@\{|\.lock$|[/.]$))[A-Za-z0-9._/-]{1,200}$")


def _text_only(what: str, example: str) -> Any:
    """A before-validator: the value must be written as a string. Without it, YAML's `pod_cidr: 10` (an int)
    would be read as the network 0.0.0.10/32 and `ip: 167772161` as 10.0.0.1."""

    def check(value: Any) -> Any:
        if not isinstance(value, (bool, int, float)):
            return value  # strings are parsed by the field's type; anything else it rejects itself
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}... ({len(str(value))} characters)"
        raise ValueError(f"{what} must be written as text like {example}, not the {type(value).__name__} {shown}")

    return BeforeValidator(check)


Address = Annotated[IPv4Address, _text_only("an IPv4 address", "10.25.11.11")]
Network = Annotated[IPv4Network, _text_only("a network", "10.244.0.0/16")]
Asn = Annotated[StrictInt, Field(ge=1, le=4294967295)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
DevicePath = Annotated[StrictStr, Field(pattern=r"^/dev/[A-Za-z0-9/_.-]+$")]
Text = StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _dns_name(value: str) -> str:
    if not DNS_NAME.match(value):
        raise ValueError(f"{value!r} is not a lower-case DNS name")
    return value


def _settings(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not SETTING_KEY.match(key):
            raise ValueError(f"setting name {key!r} must be UPPER_SNAKE_CASE")
    return value


class NodeRole(StrEnum):
    CONTROLPLANE = "controlplane"
    WORKER = "worker"


class Node(Strict):
    name: Text = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ip: Address
    role: NodeRole = NodeRole.CONTROLPLANE
    install_disk: DevicePath = "/dev/sda"
    storage_devices: list[DevicePath] = Field(default_factory=list)
    labels: dict[Text, Text] = Field(default_factory=dict)


class ApiEndpoint(Strict):
    host: Text
    port: Port = 6443

    _host = field_validator("host")(_dns_name)


class Pool(Strict):
    start: Address
    stop: Address

    def contains(self, address: IPv4Address) -> bool:
        return self.start <= address <= self.stop

    def overlaps(self, other: Pool) -> bool:
        return self.start <= other.stop and other.start <= self.stop

    def __str__(self) -> str:
        return f"{self.start}-{self.stop}"


class Gateways(Strict):
    external: Address
    internal: Address


class ClusterMesh(Strict):
    ip: Address
    fqdn: Text

    _fqdn = field_validator("fqdn")(_dns_name)


class Bgp(Strict):
    local_asn: Asn
    peer_address: Address
    peer_asn: Asn


class Cluster(Strict):
    id: StrictInt = Field(ge=1, le=255)
    enabled: StrictBool = True
    description: Text = ""
    api: ApiEndpoint
    node_subnet: Network
    pod_cidr: Network
    service_cidr: Network
    coredns_ip: Address
    lb_pool: Pool
    gateways: Gateways
    clustermesh: ClusterMesh
    bgp: Bgp
    nodes: list[Node] = Field(min_length=1)
    settings: dict[Text, Text] = Field(default_factory=dict)

    _settings = field_validator("settings")(_settings)


class Router(Strict):
    address: Address
    asn: Asn


class OnePassword(Strict):
    connect_host: Text
    vault: Text
    token_secret: Text = "onepassword-connect-token"


class Vault(Strict):
    server: Text
    path: Text = "kv"
    auth_role: Text = "external-secrets"


class SecretStore(Strict):
    name: Text = "platform-secrets"
    backend: Literal["onepassword", "vault"] = "onepassword"
    onepassword: OnePassword | None = None
    vault: Vault | None = None


class S3(Strict):
    endpoint: Text = Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    region: Text = "us-east-1"


class Git(Strict):
    url: Text
    branch: Text = "main"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not GIT_URL.match(value):
            raise ValueError(f"{quoted(value)} is not a git URL Flux can fetch (http://, https:// or ssh://HOST/PATH)")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not GIT_BRANCH.match(value):
            raise ValueError(f"{quoted(value)} is not a valid branch name")
        return value


class Versions(Strict):
    talos: Text
    kubernetes: Text
    cilium: Text
    flux: Text

    @field_validator("talos", "kubernetes", "cilium", "flux")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not VERSION.match(value):
            raise ValueError(f"{value!r} is not a version like 1.2.3")
        return value


class Features(Strict):
    spire: StrictBool = False


class Shared(Strict):
    domain: Text
    acme_email: Text = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    cluster_domain: Text = "cluster.local"
    router: Router
    upstream_dns: list[Address] = Field(min_length=1)
    secret_store: SecretStore
    s3: S3
    git: Git
    versions: Versions
    features: Features = Features()
    settings: dict[Text, Text] = Field(default_factory=dict)

    _domain = field_validator("domain")(_dns_name)
    _settings = field_validator("settings")(_settings)


class ChartFolder(Strict):
    """A folder of packaged charts (<name>-<version>.tgz or folders) the validation renders HelmReleases with."""

    path: str = Field(min_length=1)  # relative to platform.yaml
    approximate: bool = False  # not built from the pinned release tag: results from it are labelled approximate


class Inventory(Strict):
    platform: Shared
    clusters: dict[Text, Cluster] = Field(min_length=1)
    # chart folders (like --chart-dir): a path, or {path, approximate}; relative to platform.yaml
    charts: list[str | ChartFolder] = Field(default_factory=list)

    def chart_folders(self) -> list[ChartFolder]:
        return [ChartFolder(path=entry) if isinstance(entry, str) else entry for entry in self.charts]

    @field_validator("clusters")
    @classmethod
    def _names(cls, value: dict[str, Cluster]) -> dict[str, Cluster]:
        for name in value:
            if not CLUSTER_NAME.match(name):
                raise ValueError(f"cluster name {name!r} must be lower-case letters, digits and '-'")
        return value

    def enabled_clusters(self) -> dict[str, Cluster]:
        return {name: cluster for name, cluster in self.clusters.items() if cluster.enabled}

    def cluster(self, name: str) -> Cluster:
        return self.clusters[name]


@dataclass(frozen=True, order=True)
class InventoryProblem:
    """One inventory error or warning: `<field path>: <problem> (hint: ...)`."""

    field: str
    problem: str
    hint: str = ""
    severity: Literal["error", "warning"] = "error"
    line: int = 0  # of the field in the file, when the caller knows it

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        text = f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"
        return f"{text} (hint: {self.hint})" if self.hint else text


def parse_inventory(data: Any) -> tuple[Inventory | None, list[InventoryProblem]]:
    """Model-check then rule-check raw YAML data. Never raises on bad input."""
    if not isinstance(data, dict):
        return None, [InventoryProblem("", "the inventory must be a mapping with `platform` and `clusters`")]
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as error:
        return None, [_from_pydantic(item) for item in error.errors()]
    return inventory, check_rules(inventory)


def _from_pydantic(item: Any) -> InventoryProblem:
    field = ".".join(str(part) for part in item.get("loc", ()))
    kind = item.get("type", "")
    message = str(item.get("msg", "invalid value"))
    hints = {
        "extra_forbidden": "remove it or fix its spelling; unknown keys are rejected",
        "missing": "add it; see the reference platform.yaml",
        "ip_v4_address": "write a dotted IPv4 address like 10.25.11.11",
        "ip_v4_network": "write a network like 10.244.0.0/16 (host bits zero)",
        "string_type": "write it as text; quote values YAML reads as numbers or booleans (\"1.10\", \"53\", \"true\")",
        "int_type": "write a plain number (no quotes, not true/false)",
        "bool_type": "write true or false (no quotes)",
        "dict_type": "write a mapping (key: value lines)",
        "list_type": "write a list (- item lines)",
    }
    hint = hints.get(kind, "")
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return InventoryProblem(field, message[:1].lower() + message[1:], hint)


def _overlaps(a: IPv4Network, b: IPv4Network) -> bool:
    return a.overlaps(b)


def check_rules(inventory: Inventory) -> list[InventoryProblem]:
    problems: list[InventoryProblem] = []
    add = problems.append
    clusters = inventory.clusters
    names = list(clusters)

    ids: dict[int, str] = {}
    asns: dict[int, str] = {}
    node_ips: dict[IPv4Address, str] = {}
    node_names: dict[str, str] = {}
    for name in names:
        cluster = clusters[name]
        where = f"clusters.{name}"
        if cluster.id in ids:
            add(InventoryProblem(f"{where}.id", f"{cluster.id} is already used by clusters.{ids[cluster.id]}",
                                 "every cluster needs a unique ClusterMesh id (1-255)"))
        ids.setdefault(cluster.id, name)
        if cluster.bgp.local_asn in asns:
            add(InventoryProblem(f"{where}.bgp.local_asn",
                                 f"{cluster.bgp.local_asn} is already used by clusters.{asns[cluster.bgp.local_asn]}",
                                 "give each cluster its own private ASN (64512-65534)"))
        asns.setdefault(cluster.bgp.local_asn, name)
        if cluster.bgp.local_asn == inventory.platform.router.asn:
            add(InventoryProblem(f"{where}.bgp.local_asn", f"{cluster.bgp.local_asn} equals the router's ASN",
                                 "the cluster peers with the router over eBGP; use a different ASN"))

        # within the cluster: the three address spaces must not collide
        spaces = {"pod_cidr": cluster.pod_cidr, "service_cidr": cluster.service_cidr,
                  "node_subnet": cluster.node_subnet}
        keys = list(spaces)
        for i, first in enumerate(keys):
            for second in keys[i + 1:]:
                if _overlaps(spaces[first], spaces[second]):
                    add(InventoryProblem(f"{where}.{second}",
                                         f"overlaps {where}.{first} {spaces[first]}",
                                         "pod, service and node networks must be disjoint"))
        if cluster.coredns_ip not in cluster.service_cidr:
            add(InventoryProblem(f"{where}.coredns_ip",
                                 f"{cluster.coredns_ip} is outside service_cidr {cluster.service_cidr}",
                                 "CoreDNS's clusterIP must be an address of the service network (usually .10)"))
        pool = cluster.lb_pool
        if pool.start > pool.stop:
            add(InventoryProblem(f"{where}.lb_pool", f"start {pool.start} is after stop {pool.stop}",
                                 "swap the two addresses"))
        for end in ("start", "stop"):
            address = getattr(pool, end)
            if address not in cluster.node_subnet:
                add(InventoryProblem(f"{where}.lb_pool.{end}",
                                     f"{address} is outside node_subnet {cluster.node_subnet}",
                                     "load-balancer IPs are announced on the node network"))
        for address, what in _reserved(cluster.node_subnet, inventory.platform.router.address).items():
            if pool.contains(address):
                add(InventoryProblem(f"{where}.lb_pool", f"{pool} contains {address}, {what}",
                                     "announce only free addresses of the node subnet"))
        for label, address in (("gateways.external", cluster.gateways.external),
                               ("gateways.internal", cluster.gateways.internal),
                               ("clustermesh.ip", cluster.clustermesh.ip)):
            if not pool.contains(address):
                add(InventoryProblem(f"{where}.{label}", f"{address} is outside this cluster's lb_pool {pool}",
                                     "pick an address inside the cluster's own pool"))
        requested = [cluster.gateways.external, cluster.gateways.internal, cluster.clustermesh.ip]
        if len(set(requested)) != len(requested):
            add(InventoryProblem(f"{where}.gateways", "gateway and clustermesh IPs must all differ",
                                 "each LoadBalancer service needs its own address"))
        if cluster.bgp.peer_address not in cluster.node_subnet:
            add(InventoryProblem(f"{where}.bgp.peer_address",
                                 f"{cluster.bgp.peer_address} is outside node_subnet {cluster.node_subnet}",
                                 "peer with the router on the node network"))
        control_planes = [n for n in cluster.nodes if n.role == NodeRole.CONTROLPLANE]
        if len(control_planes) == 0:
            add(InventoryProblem(f"{where}.nodes", "no control-plane node", "etcd needs control-plane nodes"))
        elif len(control_planes) % 2 == 0 or len(control_planes) < 3:
            add(InventoryProblem(f"{where}.nodes",
                                 f"{len(control_planes)} control-plane node(s): etcd has no fault tolerance",
                                 "use three control-plane nodes for etcd quorum", "warning"))
        for index, node in enumerate(cluster.nodes):
            field = f"{where}.nodes.{index}"
            if node.ip not in cluster.node_subnet:
                add(InventoryProblem(f"{field}.ip", f"{node.ip} is outside node_subnet {cluster.node_subnet}",
                                     "nodes live on the node subnet"))
            if node.ip in node_ips:
                add(InventoryProblem(f"{field}.ip", f"{node.ip} is already used by {node_ips[node.ip]}",
                                     "node IPs must be unique across the platform"))
            node_ips.setdefault(node.ip, f"{where}.nodes {node.name}")
            if node.name in node_names:
                add(InventoryProblem(f"{field}.name", f"{node.name} is already used by {node_names[node.name]}",
                                     "node names must be unique across the platform"))
            node_names.setdefault(node.name, where)
            for owner in names:
                if clusters[owner].lb_pool.contains(node.ip):
                    whose = "lb_pool" if owner == name else f"clusters.{owner}.lb_pool"
                    add(InventoryProblem(f"{field}.ip", f"{node.ip} is inside {whose} {clusters[owner].lb_pool}",
                                         "keep node IPs out of every cluster's load-balancer pool"))
            reserved = _reserved(cluster.node_subnet, inventory.platform.router.address)
            if node.ip in reserved:
                add(InventoryProblem(f"{field}.ip", f"{node.ip} is {reserved[node.ip]}",
                                     "give the node an address of its own on the node subnet"))
            if node.install_disk in node.storage_devices:
                add(InventoryProblem(f"{field}.storage_devices", f"{node.install_disk} is also the install disk",
                                     "Ceph needs a disk Talos does not install to"))

    # across clusters: every range disjoint
    for i, first in enumerate(names):
        a = clusters[first]
        for second in names[i + 1:]:
            b = clusters[second]
            for field in ("pod_cidr", "service_cidr"):
                for other_field in ("pod_cidr", "service_cidr"):
                    net_a, net_b = getattr(a, other_field), getattr(b, field)
                    if _overlaps(net_a, net_b):
                        add(InventoryProblem(f"clusters.{second}.{field}",
                                             f"overlaps clusters.{first}.{other_field} {net_a}",
                                             "ClusterMesh needs disjoint pod and service networks per cluster"))
            for one, other in ((first, second), (second, first)):
                for field in ("pod_cidr", "service_cidr"):
                    network, nodes = getattr(clusters[one], field), clusters[other].node_subnet
                    if _overlaps(network, nodes):
                        add(InventoryProblem(f"clusters.{one}.{field}",
                                             f"{network} overlaps clusters.{other}.node_subnet {nodes}",
                                             "pod and service networks are routed across the mesh: keep them "
                                             "off every cluster's node network"))
            if a.lb_pool.overlaps(b.lb_pool):
                add(InventoryProblem(f"clusters.{second}.lb_pool",
                                     f"{b.lb_pool} overlaps clusters.{first}.lb_pool {a.lb_pool}",
                                     "give each cluster its own slice of the node subnet"))
            if a.api.host == b.api.host:
                add(InventoryProblem(f"clusters.{second}.api.host", f"{b.api.host} is also clusters.{first}'s",
                                     "each cluster has its own API endpoint"))
            if a.clustermesh.fqdn == b.clustermesh.fqdn:
                add(InventoryProblem(f"clusters.{second}.clustermesh.fqdn",
                                     f"{b.clustermesh.fqdn} is also clusters.{first}'s",
                                     "each cluster publishes its own clustermesh name"))

    shared = inventory.platform
    store = shared.secret_store
    if getattr(store, store.backend) is None:
        add(InventoryProblem(f"platform.secret_store.{store.backend}",
                             f"backend is {store.backend} but its settings are missing",
                             f"add platform.secret_store.{store.backend}"))
    for name in names:
        cluster = clusters[name]
        if shared.router.address not in cluster.node_subnet:
            add(InventoryProblem("platform.router.address",
                                 f"{shared.router.address} is outside clusters.{name}.node_subnet",
                                 "the BGP router must be on the node network"))
        if not cluster.api.host.endswith("." + shared.domain) and cluster.api.host != shared.domain:
            add(InventoryProblem(f"clusters.{name}.api.host",
                                 f"{cluster.api.host} is not under platform.domain {shared.domain}",
                                 "certificates and DNS records are issued for the platform domain", "warning"))
        problems.extend(_secret_settings(f"clusters.{name}.settings", cluster.settings))
        clash = set(cluster.settings) & set(shared.settings)
        for key in sorted(clash):
            add(InventoryProblem(f"clusters.{name}.settings.{key}", "also defined in platform.settings",
                                 "define a variable once: shared or per cluster"))
    problems.extend(_secret_settings("platform.settings", shared.settings))
    return sorted(problems, key=lambda p: (p.severity != "error", p.field))


def _reserved(subnet: IPv4Network, router: IPv4Address) -> dict[IPv4Address, str]:
    """Addresses of the node subnet no node or load balancer may take."""
    reserved = {subnet.network_address: f"the network address of {subnet}",
                subnet.broadcast_address: f"the broadcast address of {subnet}"}
    if router in subnet:
        reserved[router] = "the router's address (platform.router.address)"
    return reserved


SECRET_HINT = ("settings are plaintext in the cluster-settings ConfigMap: keep the secret in the secret store "
               "(platform.secret_store) and deliver it with an ExternalSecret")


def _secret_settings(where: str, settings: dict[str, str]) -> list[InventoryProblem]:
    found: list[InventoryProblem] = []
    for key, value in settings.items():
        shape = secret_value(value)
        if shape:
            found.append(InventoryProblem(f"{where}.{key}", f"the value looks like {shape}", SECRET_HINT))
        elif secret_key(key) and value:
            found.append(InventoryProblem(f"{where}.{key}", "the name says this is a secret (password, token, key)",
                                          SECRET_HINT + "; a setting naming a secret ends in _NAME or _REF"))
    return found


def network_of(address: str) -> IPv4Network:
    return ipaddress.ip_network(address, strict=False)  # type: ignore[return-value]
