"""URL-template schema locations (kubeconform style) with an on-disk cache, served on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from schema_helpers import KUBERNETES, from_yaml, messages, rendered

from greenfield.adapters.schemas import _LOCATIONS, build_schema_validator, fetch_url, render_template
from greenfield.core.schema_validation import RULE_NOT_FOUND

TEMPLATE = "{base}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"


class _Catalog(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.path.startswith("/broken/"):
            self.send_error(500, "boom")
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        del format, args


@pytest.fixture
def server(crd_schema_dir: Path) -> Iterator[tuple[str, list[str]]]:
    handler = type("Catalog", (_Catalog,), {"requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(crd_schema_dir)))
    thread = threading.Thread(target=partial(httpd.serve_forever, poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_template_fetches_once_then_uses_the_disk_cache(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, requests = server
    location = TEMPLATE.format(base=base)
    cache = tmp_path / "cache"

    validator = build_schema_validator(KUBERNETES, [location], cache, [])
    assert validator.validate(rendered("crs-valid.yaml")) == []
    findings = validator.validate(rendered("crs-invalid.yaml"))
    assert "ClusterIssuer/letsencrypt spec.acme.emial: unknown field" in messages(findings)
    fetched = sorted(requests)
    assert fetched == sorted({
        "/cilium.io/ciliumloadbalancerippool_v2.json", "/helm.toolkit.fluxcd.io/helmrelease_v2.json",
        "/cert-manager.io/clusterissuer_v1.json", "/operator.victoriametrics.com/vmauth_v1beta1.json",
        "/kustomize.toolkit.fluxcd.io/kustomization_v1.json"})
    assert len(list((cache / "http").glob("*.json"))) == len(fetched)

    def offline(url: str) -> bytes | None:
        raise AssertionError(f"fetched {url} although it is cached")

    again = build_schema_validator(KUBERNETES, [location], cache, [], fetch=offline)
    assert messages(again.validate(rendered("crs-invalid.yaml"))) == messages(findings)
    assert sorted(requests) == fetched


def test_missing_and_failing_urls_are_not_found(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, requests = server
    locations = [TEMPLATE.format(base=base), TEMPLATE.format(base=base + "/broken")]
    widget = from_yaml("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    findings = build_schema_validator(KUBERNETES, locations, tmp_path, []).validate(widget)

    assert [(f.rule, f.message) for f in findings] == [(RULE_NOT_FOUND, "no schema for example.com/v1/Widget")]
    assert f"{base}/broken/example.com/widget_v1.json: HTTP 500" in findings[0].hint
    assert not list((tmp_path / "http").glob("*.json"))  # no schema cached for misses
    # a 404 is remembered (the next run does not ask again), a server error is not
    _LOCATIONS.clear()
    asked = len(requests)
    again = build_schema_validator(KUBERNETES, locations, tmp_path, []).validate(widget)
    assert [(f.rule, f.message) for f in again] == [(f.rule, f.message) for f in findings]
    assert requests[asked:] == ["/broken/example.com/widget_v1.json"]


def test_unreachable_host_is_reported_not_raised(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot fetch"):
        fetch_url("http://127.0.0.1:9/nothing.json")


def test_kubeconform_template_variables() -> None:
    template = ("https://h/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
                "{{ .ResourceKind }}{{ .KindSuffix }}.json|{{.Group}}/{{.ResourceAPIVersion}}")
    assert render_template(template, "apps/v1", "Deployment", "1.34") == (
        "https://h/v1.34-standalone-strict/deployment-apps-v1.json|apps/v1")
    assert render_template(template, "v1", "ConfigMap", "1.34") == (
        "https://h/v1.34-standalone-strict/configmap-v1.json|/v1")
