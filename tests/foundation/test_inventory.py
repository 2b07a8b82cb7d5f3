"""The inventory model and its rules: the reference passes, each broken copy fails with one clear line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenfield.core.inventory import parse_inventory


@pytest.fixture(scope="module")
def reference(repo_root: Path) -> dict[str, Any]:
    data = yaml.safe_load((repo_root / "platform.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_reference_inventory_is_clean(reference: dict[str, Any]) -> None:
    inventory, problems = parse_inventory(reference)
    assert inventory is not None
    assert problems == []
    assert list(inventory.enabled_clusters()) == ["infra", "apps"]
    assert inventory.clusters["infra"].id == 1
    assert str(inventory.clusters["apps"].coredns_ip) == "10.247.0.10"


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    target: Any = data
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


class _Delete:
    def __repr__(self) -> str:  # a stable test id (xdist workers must collect the same names)
        return "<deleted>"


_DELETE = _Delete()

# (change, field the problem names, words the message contains)
BROKEN: list[tuple[str, Any, str, str]] = [
    ("clusters.apps.pod_cidr", "10.244.0.0/16", "clusters.apps.pod_cidr", "overlaps clusters.infra.pod_cidr"),
    ("clusters.apps.service_cidr", "10.245.0.0/16", "clusters.apps.service_cidr", "overlaps clusters.infra"),
    ("clusters.infra.service_cidr", "10.244.0.0/16", "clusters.infra.service_cidr", "overlaps clusters.infra.pod_cidr"),
    ("clusters.apps.id", 1, "clusters.apps.id", "already used by clusters.infra"),
    ("clusters.apps.id", 0, "clusters.apps.id", "greater than or equal to 1"),
    ("clusters.apps.id", 256, "clusters.apps.id", "less than or equal to 255"),
    ("clusters.apps.lb_pool.start", "10.25.11.110", "clusters.apps.lb_pool", "overlaps clusters.infra.lb_pool"),
    ("clusters.infra.lb_pool.stop", "10.25.12.20", "clusters.infra.lb_pool.stop", "outside node_subnet"),
    ("clusters.infra.gateways.external", "10.25.11.125", "clusters.infra.gateways.external", "outside this cluster's lb_pool"),
    ("clusters.apps.clustermesh.ip", "10.25.11.100", "clusters.apps.clustermesh.ip", "outside this cluster's lb_pool"),
    ("clusters.infra.coredns_ip", "10.244.0.10", "clusters.infra.coredns_ip", "outside service_cidr"),
    ("clusters.apps.bgp.local_asn", 64512, "clusters.apps.bgp.local_asn", "already used by clusters.infra"),
    ("clusters.infra.bgp.local_asn", 64501, "clusters.infra.bgp.local_asn", "router's ASN"),
    ("clusters.infra.bgp.peer_address", "192.168.1.1", "clusters.infra.bgp.peer_address", "outside node_subnet"),
    ("clusters.apps.nodes.0.ip", "10.25.11.11", "clusters.apps.nodes.0.ip", "already used by"),
    ("clusters.apps.nodes.0.ip", "10.25.12.14", "clusters.apps.nodes.0.ip", "outside node_subnet"),
    ("clusters.apps.nodes.0.name", "infra-01", "clusters.apps.nodes.0.name", "already used by"),
    ("clusters.infra.nodes.0.ip", "10.25.11.105", "clusters.infra.nodes.0.ip", "inside lb_pool"),
    ("clusters.infra.nodes.0.storage_devices", ["/dev/sda"], "clusters.infra.nodes.0.storage_devices", "install disk"),
    ("clusters.infra.nodes.0.install_disk", "sda", "clusters.infra.nodes.0.install_disk", "pattern"),
    ("clusters.infra.pod_cidr", "10.244.0.1/16", "clusters.infra.pod_cidr", "network"),
    ("clusters.infra.nodes.0.ip", "10.25.11.300", "clusters.infra.nodes.0.ip", "IPv4"),
    ("clusters.infra.colour", "blue", "clusters.infra.colour", "extra inputs are not permitted"),
    ("platform.domian", "example.com", "platform.domian", "extra inputs are not permitted"),
    ("platform.domain", _DELETE, "platform.domain", "field required"),
    ("platform.domain", "Example.COM", "platform.domain", "lower-case DNS name"),
    ("platform.acme_email", "nobody", "platform.acme_email", "pattern"),
    ("platform.versions.talos", "latest", "platform.versions.talos", "not a version"),
    ("platform.secret_store.backend", "vault", "platform.secret_store.vault", "settings are missing"),
    ("platform.secret_store.backend", "aws", "platform.secret_store.backend", "input should be"),
    ("platform.router.address", "10.26.0.1", "platform.router.address", "outside clusters.infra.node_subnet"),
    ("platform.settings", {"lower_case": "x"}, "platform.settings", "UPPER_SNAKE_CASE"),
    ("clusters.apps.api.host", "infra-k8s.example.com", "clusters.apps.api.host", "also clusters.infra's"),
    ("clusters.apps.clustermesh.fqdn", "infra-mesh.example.com", "clusters.apps.clustermesh.fqdn", "also clusters.infra's"),
    ("clusters.apps.gateways.internal", "10.25.11.121", "clusters.apps.gateways", "must all differ"),
    ("clusters.apps.lb_pool.start", "10.25.11.140", "clusters.apps.lb_pool", "start 10.25.11.140 is after stop"),
    ("clusters.apps.nodes", [], "clusters.apps.nodes", "at least 1 item"),
    ("clusters.infra.api.port", 70000, "clusters.infra.api.port", "less than or equal to 65535"),
    ("clusters.apps.settings", {"DOMAIN_X": "a"}, "", ""),  # a valid extra: no problem expected
    # strict types: YAML scalars are never coerced (`id: true` is not 1, `pod_cidr: 10` is not 0.0.0.10/32)
    ("clusters.apps.id", True, "clusters.apps.id", "valid integer"),
    ("clusters.apps.id", "2", "clusters.apps.id", "valid integer"),
    ("clusters.apps.id", 2.0, "clusters.apps.id", "valid integer"),
    ("clusters.apps.enabled", "yes", "clusters.apps.enabled", "valid boolean"),
    ("clusters.apps.enabled", 1, "clusters.apps.enabled", "valid boolean"),
    ("platform.features.spire", "false", "platform.features.spire", "valid boolean"),
    ("clusters.apps.pod_cidr", 10, "clusters.apps.pod_cidr", "written as text like 10.244.0.0/16, not the int 10"),
    ("clusters.apps.node_subnet", 167772160, "clusters.apps.node_subnet", "written as text"),
    ("clusters.apps.nodes.0.ip", 167772161, "clusters.apps.nodes.0.ip", "written as text like 10.25.11.11"),
    ("clusters.apps.coredns_ip", True, "clusters.apps.coredns_ip", "written as text"),
    ("platform.upstream_dns", [167772161], "platform.upstream_dns.0", "written as text"),
    ("clusters.infra.api.port", "6443", "clusters.infra.api.port", "valid integer"),
    ("clusters.infra.bgp.local_asn", 64512.0, "clusters.infra.bgp.local_asn", "valid integer"),
    ("platform.versions.talos", 1.11, "platform.versions.talos", "valid string"),
    ("platform.settings", {"RFC2136_PORT": 53}, "platform.settings.RFC2136_PORT", "valid string"),
    ("clusters.apps.description", 42, "clusters.apps.description", "valid string"),
    ("clusters.apps.nodes.0.labels", {"zone": 1}, "clusters.apps.nodes.0.labels.zone", "valid string"),
    # addresses no node may take
    ("clusters.apps.nodes.0.ip", "10.25.11.1", "clusters.apps.nodes.0.ip", "the router's address"),
    ("clusters.apps.nodes.0.ip", "10.25.11.0", "clusters.apps.nodes.0.ip", "network address of 10.25.11.0/24"),
    ("clusters.apps.nodes.0.ip", "10.25.11.255", "clusters.apps.nodes.0.ip", "broadcast address of 10.25.11.0/24"),
    ("clusters.apps.nodes.0.ip", "10.25.11.105", "clusters.apps.nodes.0.ip", "inside clusters.infra.lb_pool"),
    ("clusters.infra.nodes.1.ip", "10.25.11.150", "clusters.infra.nodes.1.ip", "inside clusters.apps-dev.lb_pool"),
    ("clusters.apps.lb_pool.stop", "10.25.11.255", "clusters.apps.lb_pool", "broadcast address"),
    # networks routed across the mesh stay off every node network
    ("clusters.apps.pod_cidr", "10.25.0.0/16", "clusters.apps.pod_cidr", "overlaps clusters.infra.node_subnet"),
    ("clusters.apps.service_cidr", "10.25.11.0/25", "clusters.apps.service_cidr",
     "overlaps clusters.infra.node_subnet"),
    # git.url: a URL Flux's GitRepository can fetch; the branch a ref name
    ("platform.git.url", "file:///etc", "platform.git.url", "not a git URL"),
    ("platform.git.url", "ext::sh -c touch% /tmp/pwned", "platform.git.url", "not a git URL"),
    ("platform.git.url", "--upload-pack=touch /tmp/pwned", "platform.git.url", "not a git URL"),
    ("platform.git.url", "https://github.com/org/repo with space", "platform.git.url", "not a git URL"),
    ("platform.git.url", "git@github.com:org/repo.git", "platform.git.url", "not a git URL"),
    ("platform.git.url", "", "platform.git.url", "not a git URL"),
    ("platform.git.branch", "--orphan", "platform.git.branch", "not a valid branch name"),
    ("platform.git.branch", "a..b", "platform.git.branch", "not a valid branch name"),
    ("platform.git.url", "ssh://git@github.com/org/repo.git", "", ""),  # valid
    ("platform.git.url", "https://gitea.example.com:3000/org/repo", "", ""),  # valid
    ("platform.git.branch", "release/1.2", "", ""),  # valid
    # secret material in settings goes to a plaintext ConfigMap: refused
    ("platform.settings.RFC2136_TSIG_SECRET", "NHXR03ZhQ6Soqy9w9gGKiKBXg7S+IqeVqqvVtbH0mmY=",
     "platform.settings.RFC2136_TSIG_SECRET", "base64 key material"),
    ("platform.settings.TSIG", "d/O4GD3aIu1W3+xQdnQ6tg==", "platform.settings.TSIG", "base64 key material"),
    ("clusters.apps.settings.DB_PASSWORD", "hunter2", "clusters.apps.settings.DB_PASSWORD", "name says"),
    ("clusters.apps.settings.GRAFANA_API_KEY", "x", "clusters.apps.settings.GRAFANA_API_KEY", "name says"),
    ("platform.settings.BOT", "ghp_" + "a1B2" * 9, "platform.settings.BOT", "GitHub token"),
    ("platform.settings.CERT", "-----BEGIN PRIVATE KEY-----", "platform.settings.CERT", "PEM"),
    ("platform.settings.AWS_ID", "AKIAIOSFODNN7EXAMPLE", "platform.settings.AWS_ID", "AWS access key id"),
    ("platform.settings.TOKEN_SECRET_NAME", "onepassword-connect-token", "", ""),  # names a secret: allowed
    ("platform.settings.S3_ACCESS_KEY_ID", "backups", "", ""),  # an id, not the key
    ("platform.settings.RFC2136_TSIG_KEYNAME", "externaldns", "", ""),  # the reference's key name
]


@pytest.mark.parametrize(("dotted", "value", "field", "words"), BROKEN,
                         ids=[f"{d}={v!r}"[:60] for d, v, _, _ in BROKEN])
def test_each_broken_inventory_is_rejected_with_one_clear_line(
        reference: dict[str, Any], dotted: str, value: Any, field: str, words: str) -> None:
    data = copy.deepcopy(reference)
    _set(data, dotted, value)
    _, problems = parse_inventory(data)
    errors = [p for p in problems if p.severity == "error"]
    if not field:
        assert errors == []
        return
    assert errors, f"{dotted}={value!r} was accepted"
    matching = [p for p in errors if p.field == field and words.lower() in p.problem.lower()]
    assert matching, [p.render("platform.yaml") for p in errors]
    line = matching[0].render("platform.yaml")
    assert line.startswith(f"platform.yaml: {field}: ")
    assert "\n" not in line


def test_overlap_message_names_both_sides(reference: dict[str, Any]) -> None:
    data = copy.deepcopy(reference)
    data["clusters"]["apps"]["pod_cidr"] = "10.244.0.0/16"
    _, problems = parse_inventory(data)
    rendered = [p.render("platform.yaml") for p in problems]
    assert ("platform.yaml: clusters.apps.pod_cidr: overlaps clusters.infra.pod_cidr 10.244.0.0/16 "
            "(hint: ClusterMesh needs disjoint pod and service networks per cluster)") in rendered


def test_two_control_planes_is_a_warning_not_an_error(reference: dict[str, Any]) -> None:
    data = copy.deepcopy(reference)
    data["clusters"]["infra"]["nodes"] = data["clusters"]["infra"]["nodes"][:2]
    inventory, problems = parse_inventory(data)
    assert inventory is not None
    assert [p.severity for p in problems] == ["warning"]
    assert "etcd" in problems[0].problem


def test_not_a_mapping() -> None:
    inventory, problems = parse_inventory(["a", "list"])
    assert inventory is None
    assert "mapping" in problems[0].problem


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
yaml_values = st.recursive(yaml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)), max_leaves=20)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=yaml_values)
def test_arbitrary_input_yields_problems_never_exceptions(data: Any) -> None:
    inventory, problems = parse_inventory(data)
    assert inventory is None or isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem.render("platform.yaml"), str)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(path=st.lists(st.sampled_from(["platform", "clusters", "infra", "apps", "nodes", "0", "ip", "lb_pool",
                                      "start", "bgp", "id", "pod_cidr", "api", "host"]), min_size=1, max_size=4),
       value=yaml_values)
def test_mutated_reference_yields_problems_never_exceptions(reference: dict[str, Any], path: list[str],
                                                             value: Any) -> None:
    data = copy.deepcopy(reference)
    target: Any = data
    for part in path[:-1]:
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            break
    if isinstance(target, dict):
        target[path[-1]] = value
    parse_inventory(data)  # must not raise


# --- the file: duplicate keys and lines ------------------------------------------------------------------------
def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    return path


def test_a_duplicate_cluster_is_refused_naming_both_lines(tmp_path: Path, repo_root: Path) -> None:
    from greenfield.app.inventory import check_inventory_file
    from greenfield.errors import InputError

    reference_text = (repo_root / "platform.yaml").read_text()
    first = reference_text[:reference_text.index("\n  apps:\n")].count("\n") + 2
    text = reference_text + "  apps:\n    id: 9\n"
    second = text.count("\n") - 1
    with pytest.raises(InputError) as raised:
        check_inventory_file(_write(tmp_path, text), "platform.yaml")
    assert raised.value.render() == (f"platform.yaml: line {second}: duplicate key clusters.apps (first defined at "
                                     f"line {first}) (hint: YAML keeps only the last of two equal keys: merge them "
                                     "or rename one)")


@pytest.mark.parametrize("text", [
    "platform:\n  domain: a.com\n  domain: b.com\n",
    "clusters:\n  a:\n    nodes:\n      - {name: n, ip: 10.0.0.1, ip: 10.0.0.2}\n",
    "platform:\n  settings:\n    X: '1'\n    X: '2'\n",
])
def test_duplicate_keys_are_refused_at_any_depth(tmp_path: Path, text: str) -> None:
    from greenfield.app.inventory import check_inventory_file
    from greenfield.errors import InputError

    with pytest.raises(InputError, match=r"line \d+: duplicate key "):
        check_inventory_file(_write(tmp_path, text), "platform.yaml")


def test_equal_looking_keys_of_different_types_are_not_duplicates(tmp_path: Path) -> None:
    from greenfield.app.inventory import check_inventory_file

    check = check_inventory_file(_write(tmp_path, "platform:\n  settings:\n    1: a\n    '1': b\n"), "platform.yaml")
    assert check.problems  # other problems, but no duplicate-key error


def test_every_problem_names_its_line(tmp_path: Path, repo_root: Path) -> None:
    from greenfield.app.inventory import check_inventory_file

    text = (repo_root / "platform.yaml").read_text().replace("pod_cidr: 10.246.0.0/16", "pod_cidr: 10", 1)
    line = text[:text.index("pod_cidr: 10\n")].count("\n") + 1
    check = check_inventory_file(_write(tmp_path, text), "platform.yaml")
    assert [p.render(check.source) for p in check.problems] == [
        f"platform.yaml:{line}: clusters.apps.pod_cidr: a network must be written as text like 10.244.0.0/16, "
        "not the int 10"]


def test_aliases_do_not_expand_when_lines_are_indexed(tmp_path: Path) -> None:
    from greenfield.app.inventory import check_inventory_file

    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
    check = check_inventory_file(_write(tmp_path, laughs), "platform.yaml")
    assert check.inventory is None and check.problems


REFERENCE_LINES = (Path(__file__).resolve().parents[2] / "platform.yaml").read_text().splitlines(keepends=True)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(index=st.integers(min_value=0, max_value=len(REFERENCE_LINES) - 1),
       replacement=st.one_of(st.sampled_from(["  apps:\n", "    id: true\n", "  - 10\n", "pod_cidr: 10\n", ": :\n",
                                              "    ip: 10.25.11.1\n", "&a *a\n", "  settings: {X: ghp_1}\n"]),
                             st.text(st.characters(exclude_categories=("Cs",)), max_size=30).map(lambda t: t + "\n")))
def test_an_edited_inventory_file_yields_problems_or_one_input_error(
        tmp_path: Path, index: int, replacement: str) -> None:
    from greenfield.app.inventory import check_inventory_file
    from greenfield.errors import InputError

    lines = list(REFERENCE_LINES)
    lines[index] = replacement
    path = tmp_path / "edited.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    try:
        check = check_inventory_file(path, "platform.yaml")
    except InputError as error:
        assert "\n" not in error.render()
        return
    for problem in check.problems:
        assert "\n" not in problem.render(check.source)
