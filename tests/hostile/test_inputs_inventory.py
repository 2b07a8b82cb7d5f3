"""A hostile or careless platform.yaml through the commands that read it: one line with the file, the line and
the field; no coercion, no silently dropped cluster, no secret on its way to a plaintext ConfigMap."""

from __future__ import annotations

from pathlib import Path

import pytest
from inputs_helpers import greenfield, inventory_repo, line_of, one_line_error


@pytest.fixture()
def repo(tmp_path: Path, repo_root: Path) -> Path:
    return inventory_repo(tmp_path, repo_root)


def _edit(repo: Path, old: str, new: str) -> int:
    """Replace the first `old` by `new`; the line where it starts."""
    path = repo / "platform.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[:text.index(old)].count("\n") + 1


def test_a_duplicate_cluster_fails_every_command_that_reads_the_inventory(repo: Path) -> None:
    path = repo / "platform.yaml"
    first = line_of(path, "\n  apps:\n") + 1
    path.write_text(path.read_text() + "  apps:\n    id: 9\n")
    second = path.read_text().count("\n") - 1
    expected = (f"greenfield: platform.yaml: line {second}: duplicate key clusters.apps (first defined at line "
                f"{first}) (hint: YAML keeps only the last of two equal keys: merge them or rename one)")
    for command in (["inventory", "check"], ["settings", "render", "--check"], ["validate", "--no-cache"]):
        assert one_line_error(greenfield(*command, "--repo", str(repo), cwd=repo)) == expected, command


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("    id: 2\n", "    id: true\n", "clusters.apps.id", "input should be a valid integer"),
    ("pod_cidr: 10.246.0.0/16", "pod_cidr: 10", "clusters.apps.pod_cidr", "a network must be written as text"),
    ("      - {name: apps-01, ip: 10.25.11.14,", "      - {name: apps-01, ip: 10.25.11.1,", "clusters.apps.nodes.0.ip",
     "is the router's address"),
    ("RFC2136_TSIG_KEYNAME: externaldns", "RFC2136_TSIG_SECRET: NHXR03ZhQ6Soqy9w9gGKiKBXg7S+IqeVqqvVtbH0mmY=",
     "platform.settings.RFC2136_TSIG_SECRET", "looks like base64 key material"),
    ("url: https://github.com/greenfield-platform/greenfield.git", "url: 'ext::sh -c id'", "platform.git.url",
     "is not a git URL"),
])
def test_a_broken_value_is_one_line_with_its_line(repo: Path, old: str, new: str, field: str, words: str) -> None:
    line = _edit(repo, old, new)
    result = greenfield("settings", "render", "--check", "--repo", str(repo), cwd=repo)
    error = one_line_error(result)
    assert error.startswith(f"greenfield: platform.yaml:{line}: {field}: ")
    assert words in error and "(hint: " in error
    checked = greenfield("inventory", "check", "--repo", str(repo), cwd=repo)
    assert checked.returncode == 1
    assert f"error platform.yaml:{line}: {field}: " in checked.stdout.decode()


def test_a_secret_setting_never_reaches_the_settings_file(repo: Path) -> None:
    _edit(repo, "RFC2136_TSIG_KEYNAME: externaldns", "RFC2136_TSIG_KEY: c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3OA==")
    (repo / "kubernetes/clusters/infra").mkdir()
    one_line_error(greenfield("settings", "render", "--repo", str(repo), cwd=repo))
    assert not (repo / "kubernetes/clusters/infra/cluster-settings.yaml").exists()


def test_the_reference_inventory_is_clean(repo_root: Path) -> None:
    result = greenfield("inventory", "check", cwd=repo_root)
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout.decode().startswith("ok platform.yaml: 3 clusters")
