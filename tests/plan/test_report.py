"""The HTML report: self-contained (unit) and rendered by a real headless Chromium (browser)."""

from __future__ import annotations

import datetime as dt
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from greenfield.app.schedule import ScheduleRequest, calendar_for, make_schedule
from greenfield.core.findings import Finding, Severity
from greenfield.core.plan.board import KustomizationInfo, build_board
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.report import layered_layout, render_report

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _report(catalog: Catalog) -> str:
    ks = {
        "infra": {
            "flux-system": KustomizationInfo("flux-system", "flux-system", "kubernetes/clusters/infra", True),
            "infrastructure": KustomizationInfo("infrastructure", "flux-system", "kubernetes/clusters/infra/x", True,
                                                parent="flux-system"),
            "cilium": KustomizationInfo("cilium", "flux-system", "kubernetes/infrastructure/kube-system/cilium/app",
                                        True, parent="infrastructure"),
            "coredns": KustomizationInfo("coredns", "flux-system", "kubernetes/infrastructure/kube-system/coredns/app",
                                         True, parent="infrastructure", depends_on=("cilium",)),
            "spegel": KustomizationInfo("spegel", "flux-system", "kubernetes/infrastructure/kube-system/spegel/app",
                                        False, parent="infrastructure", depends_on=("coredns",)),
        },
    }
    findings = [Finding("graph/depends-on-missing", Severity.ERROR, "dependsOn <missing> not found", cluster="infra",
                        kustomization="flux-system/coredns", file="kubernetes/infrastructure/kube-system/coredns/ks.yaml",
                        line=7, hint="add the Kustomization or fix the name")]
    present = {p: s.number < 20 for s in catalog.stories for p in s.paths}
    plan = [(1, "Networking", "2025-10-27", "2025-11-07", [s.id for s in catalog.stories[:8]])]
    board = build_board(catalog, present, findings, ks, ["graph/depends-on-missing"], {}, plan, "v3")
    request = ScheduleRequest()
    schedule = make_schedule(catalog, request)
    return render_report(catalog, board, schedule, calendar_for(catalog, request), findings, ks,
                         dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def _anchors(page: str) -> tuple[set[str], set[str]]:
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    links = set(re.findall(r'href="#([^"]+)"', page))
    return ids, links


def test_report_is_self_contained_and_every_link_has_a_target(catalog: Catalog) -> None:
    page = _report(catalog)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external requests
    assert "<link" not in page and "@import" not in page
    ids, links = _anchors(page)
    assert links and links <= ids, links - ids
    for section in ("summary", "board", "gantt", "dependencies", "kustomizations-infra", "findings"):
        assert section in ids
    assert page.count('class="gantt"') == 1 and page.count('class="graph"') == 2
    assert "#d64541" in page.split('id="kustomizations-infra"')[1]  # coredns has an error finding: red


def test_layered_layout_puts_dependencies_in_earlier_columns() -> None:
    placed = layered_layout(["c", "b", "a", "d"], [("a", "b"), ("b", "c"), ("a", "c"), ("d", "d")])
    assert placed["a"].layer == 0 and placed["b"].layer == 1 and placed["c"].layer == 2
    assert placed["a"].x < placed["b"].x < placed["c"].x
    cyclic = layered_layout(["x", "y"], [("x", "y"), ("y", "x")])  # terminates on a cycle
    assert set(cyclic) == {"x", "y"}


# ------------------------------------------------------------------------------------------------ browser
def _png_pixels(data: bytes) -> tuple[int, int, list[int]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into a flat list of grey values."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    grey: list[int] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        if row % 4 == 0:  # every fourth row is plenty for a variance
            grey.extend((line[i] + line[i + 1] + line[i + 2]) // 3 for i in range(0, stride, channels * 4))
        previous = line
    return width, height, grey


@pytest.fixture(scope="session")
def chromium(repo_root: Path) -> Path:
    result = subprocess.run([str(repo_root / "scripts" / "ensure-chromium")], capture_output=True, text=True,
                            timeout=900, check=False)
    if result.returncode != 0 or not CHROMIUM.exists():
        pytest.fail(f"chromium could not be installed: {result.stderr[-500:]}")
    return CHROMIUM


def _chromium(binary: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([str(binary), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=tmp)


def _body(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))


@pytest.mark.browser
def test_report_renders_in_headless_chromium(chromium: Path, catalog: Catalog, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(_report(catalog), encoding="utf-8")
    url = page.as_uri()
    dom = _chromium(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-800:]
    assert "<svg" in dom.stdout and 'id="gantt"' in dom.stdout
    ids, links = _anchors(dom.stdout)
    assert links <= ids, links - ids
    body = _body(dom.stdout)  # written by the page's own script, run by the browser
    assert int(body["data-links"]) > 50
    assert body["data-broken-links"] == ""  # every internal link (HTML and SVG) resolves in the live DOM
    shot = tmp_path / "shot.png"
    result = _chromium(chromium, tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-800:]
    width, height, grey = _png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    mean = sum(grey) / len(grey)
    variance = sum((g - mean) ** 2 for g in grey) / len(grey)
    assert variance > 100, f"screenshot looks blank (variance {variance:.1f})"
    assert len(set(grey)) > 20


@pytest.mark.browser
def test_report_fragment_links_reach_their_target(chromium: Path, catalog: Catalog, tmp_path: Path) -> None:
    """Opening the report at #findings, #story-3 ... makes that element the :target and scrolls to it."""
    page = tmp_path / "report.html"
    page.write_text(_report(catalog), encoding="utf-8")
    for fragment in ("findings", "story-3", "kustomizations-infra"):
        dom = _chromium(chromium, tmp_path, "--window-size=1000,700", "--dump-dom", f"{page.as_uri()}#{fragment}")
        body = _body(dom.stdout)
        assert body["data-target"] == fragment  # the element exists
        assert body["data-target-css"] == fragment  # the browser navigated to it (:target)
        assert int(body["data-scroll"]) > 0  # and scrolled there
