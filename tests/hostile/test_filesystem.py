"""Rendering reads only inside the repository root (kustomize-controller's secure filesystem), never the network.

`../` that stays inside the root is fine (the basic fixture's components use it); a climb above the root, an
absolute path or a symlink whose target is outside fails that Kustomization with `build/outside-root` at the
kustomization file and line, and the outside file's content appears nowhere (output, cache). Remote bases
are never fetched: the Kustomization gets an info finding and its local objects; a server on 127.0.0.1
records that nobody connected.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from tests.hostile.conftest import greenfield, rules_of, validate_json

GRAFANA_APP = "kubernetes/apps/grafana/app"
SECRET_TEXT = "host-file-content-7f3a9c"


def _kustomization(repo: Path, extra: str) -> None:
    path = repo / GRAFANA_APP / "kustomization.yaml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")


def _host_file(tmp_path: Path) -> Path:
    host = tmp_path / "host.yaml"
    host.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  x: {SECRET_TEXT}\n",
                    encoding="utf-8")
    return host


def _nowhere(text: str, *folders: Path) -> None:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert text not in path.read_text(encoding="utf-8", errors="ignore"), path


def _outside(findings: list[dict[str, object]]) -> list[dict[str, object]]:
    return [f for f in findings if f["rule"] == "build/outside-root"]


def test_climbing_above_the_root_fails_that_kustomization(tmp_path: Path, repo: Path) -> None:
    _host_file(tmp_path)
    _kustomization(repo, "  - ../../../../../host.yaml\n")
    cache = tmp_path / "cache"
    findings = validate_json(repo, cache)
    [finding] = _outside(findings)
    assert finding["kustomization"] == "flux-system/grafana"
    assert (finding["file"], finding["line"]) == (f"{GRAFANA_APP}/kustomization.yaml", 7)
    assert "../../../../../host.yaml" in str(finding["message"])
    assert rules_of(findings) - {"build/not-built"} == {"build/outside-root"}  # the rest builds (children: not built)
    _nowhere(SECRET_TEXT, cache)


def test_dotdot_inside_the_root_is_fine(tmp_path: Path, repo: Path) -> None:
    (repo / "kubernetes/shared.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: grafana\n", encoding="utf-8")
    _kustomization(repo, "  - ../../../shared.yaml\n")
    assert validate_json(repo, tmp_path / "cache") == []


def test_an_absolute_generator_file_is_refused(tmp_path: Path, repo: Path) -> None:
    host = _host_file(tmp_path)
    _kustomization(repo, f"configMapGenerator:\n  - name: stolen\n    namespace: grafana\n    files:\n"
                         f"      - {host}\n")
    cache = tmp_path / "cache"
    findings = validate_json(repo, cache)
    [finding] = _outside(findings)
    assert finding["file"] == f"{GRAFANA_APP}/kustomization.yaml" and finding["line"] == 11
    assert str(host) in str(finding["message"])
    _nowhere(SECRET_TEXT, cache)


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path, repo: Path) -> None:
    host = _host_file(tmp_path)
    (repo / GRAFANA_APP / "linked.yaml").symlink_to(host)
    (repo / "kubernetes/apps/linked-folder").symlink_to(tmp_path, target_is_directory=True)
    _kustomization(repo, "  - ./linked.yaml\n  - ../../linked-folder/host.yaml\n")
    cache = tmp_path / "cache"
    findings = validate_json(repo, cache)
    assert {str(f["message"]).split(" is outside")[0] for f in _outside(findings)} == {
        "resources entry ./linked.yaml", "resources entry ../../linked-folder/host.yaml"}
    _nowhere(SECRET_TEXT, cache)


def test_a_generated_kustomization_never_follows_a_symlinked_file(tmp_path: Path, repo: Path) -> None:
    """A folder without kustomization.yaml: the artifact holds no symlinks, so the linked file is not there."""
    _host_file(tmp_path)
    (repo / "kubernetes/apps/podinfo/app/stolen.yaml").symlink_to(tmp_path / "host.yaml")
    cache = tmp_path / "cache"
    result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(cache), cwd=repo)
    assert SECRET_TEXT not in result.stdout
    _nowhere(SECRET_TEXT, cache)


class _Recorder:
    """A TCP server on 127.0.0.1 that records every connection."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def test_remote_bases_are_reported_and_never_fetched(tmp_path: Path, repo: Path) -> None:
    recorder = _Recorder()
    try:
        _kustomization(repo, f"  - http://127.0.0.1:{recorder.port}/org/repo.git//deploy?ref=main\n"
                             f"  - https://127.0.0.1:{recorder.port}/manifests/crds.yaml\n"
                             f"  - github.com/example/never//config/crd?ref=v1.0.0\n"
                             "configMapGenerator:\n  - name: dashboards\n    namespace: grafana\n    files:\n"
                             f"      - d.json=http://127.0.0.1:{recorder.port}/dashboards/d.json\n")
        nested = repo / "kubernetes/apps/podinfo/app"
        (nested / "kustomization.yaml").write_text(
            "resources:\n  - configmap.yaml\n  - helmrelease.yaml\n  - namespace.yaml\n  - ocirepository.yaml\n"
            f"  - git::http://127.0.0.1:{recorder.port}/x.git//y\n", encoding="utf-8")
        result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(tmp_path / "cache"),
                            cwd=repo)
    finally:
        recorder.close()
    assert recorder.connections == 0
    findings = json.loads(result.stdout)["findings"]
    remote = [f for f in findings if f["rule"] == "build/external-source"]
    assert len(remote) == 5 and all(f["severity"] == "info" for f in remote)
    assert all("not rendered offline" in str(f["message"]) and f["line"] for f in remote)
    assert rules_of(findings) == {"build/external-source"}, findings  # the local objects still build
    render = greenfield("validate", "--no-schema", "--cache-dir", str(tmp_path / "cache"), cwd=repo)
    assert render.returncode == 0


def test_a_local_chart_never_reads_outside_the_root(tmp_path: Path, upstream_tools) -> None:  # type: ignore[no-untyped-def]
    """A chart of the repository whose template is a symlink to a host file, and a chart path climbing out."""
    from tests.engine.test_charts import chart_repo

    upstream_tools.ensure(["helm"])
    repo = chart_repo(tmp_path)
    host = tmp_path / "host-template.yaml"
    host.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  x: {SECRET_TEXT}\n",
                    encoding="utf-8")
    (repo / "charts/hello/templates/stolen.yaml").symlink_to(host)
    cache = tmp_path / "cache"
    result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(cache), cwd=repo)
    findings = json.loads(result.stdout)["findings"]
    [failed] = [f for f in findings if f["rule"] == "build/chart-template"]
    assert "charts/hello/templates/stolen.yaml is outside the repository root or a symlink" in str(failed["message"])
    assert SECRET_TEXT not in result.stdout
    _nowhere(SECRET_TEXT, cache)
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    release.write_text(release.read_text(encoding="utf-8").replace("./charts/hello", "../../../charts/hello"),
                       encoding="utf-8")
    (repo / "charts/hello/templates/stolen.yaml").unlink()
    climbed = validate_json(repo, cache)  # `../` above the root stays at the root, as source-controller joins it
    assert not [f for f in climbed if f["rule"].startswith("build/chart")], climbed


def test_schema_urls_from_the_repository_config_never_reach_a_private_address(tmp_path: Path, repo: Path) -> None:
    """A pull request can change `.greenfield.yaml`: its URL templates must not make a CI runner request its own
    network (cloud metadata, internal services). The same URL given by the user on the command line is fetched."""
    recorder = _Recorder()
    try:
        (repo / "kubernetes/apps/podinfo/app/widget.yaml").write_text(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: podinfo}\nspec: {}\n",
            encoding="utf-8")
        template = f"https://127.0.0.1:{recorder.port}/{{{{.Group}}}}/{{{{.ResourceKind}}}}.json"
        (repo / ".greenfield.yaml").write_text(f"schemas:\n  - '{template}'\n  - 'http://localhost:{recorder.port}"
                                               "/{{.ResourceKind}}.json'\n", encoding="utf-8")
        result = greenfield("validate", "--format", "json", "--cache-dir", str(tmp_path / "cache"), cwd=repo)
        assert recorder.connections == 0, result.stdout
        missing = [f for f in json.loads(result.stdout)["findings"]
                   if f["rule"] == "schema/not-found" and "Widget" in str(f["message"])]
        assert missing, result.stdout
        assert "not fetched" in result.stdout and "non-public address 127.0.0.1" in result.stdout
        assert "http scheme" in result.stdout
        trusted = greenfield("validate", "--format", "json", "--schemas", template, "--cache-dir",
                             str(tmp_path / "cache-2"), cwd=repo)
        assert recorder.connections > 0, trusted.stdout  # the user's own --schemas URL is fetched
    finally:
        recorder.close()
