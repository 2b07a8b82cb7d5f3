"""The self-contained HTML report (pure: data in, one HTML string out; inline CSS and SVG, no external requests).

Sections: summary, story board, Gantt chart of the schedule, story dependency graph, per cluster the Flux
Kustomization graph coloured by validation status, and the findings. Graphs are laid out here (layered layout:
longest path for the layer, barycentre ordering inside a layer).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from dataclasses import dataclass

from greenfield.core.findings import Finding, Severity
from greenfield.core.plan.board import Board, KustomizationInfo, Status
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.schedule import CalendarSpec, Schedule

COLOURS = {Status.PASS: "#2e9d4f", Status.FAIL: "#d64541", Status.INCOMPLETE: "#e0a030",
           Status.UNVERIFIED: "#9b59b6", Status.NOT_STARTED: "#b8b8b8", Status.NOT_RUN: "#8fa3b8"}
KS_COLOURS = {"ok": "#2e9d4f", "error": "#d64541", "warning": "#e0a030", "unbuilt": "#7f7f7f"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


# ------------------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class Placed:
    x: float
    y: float
    layer: int


def layered_layout(nodes: list[str], edges: list[tuple[str, str]], width: float = 150, height: float = 34,
                   gap_x: float = 60, gap_y: float = 14) -> dict[str, Placed]:
    """Edges (a, b) mean a comes before b: a is drawn in an earlier column. Deterministic; cycles are cut."""
    known = set(nodes)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in known and b in known and a != b:
            preds[b].append(a)
    layer = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):  # longest path; bounded so a cycle cannot loop forever
        changed = False
        for node in nodes:
            best = max((layer[p] + 1 for p in preds[node]), default=0)
            if best > layer[node] and best < len(nodes):
                layer[node], changed = best, True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(layer[node], []).append(node)
    position = {n: float(i) for col in columns.values() for i, n in enumerate(col)}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for node, items in preds.items():
        for p in items:
            succs[p].append(node)
    for sweep in range(4):  # barycentre ordering, alternating directions
        order = sorted(columns) if sweep % 2 == 0 else sorted(columns, reverse=True)
        for index in order:
            col = columns[index]
            def key(n: str, sweep: int = sweep) -> tuple[float, float]:
                near = preds[n] if sweep % 2 == 0 else succs[n]
                return (sum(position[m] for m in near) / len(near) if near else position[n], position[n])
            col.sort(key=key)
            for i, n in enumerate(col):
                position[n] = float(i)
    placed: dict[str, Placed] = {}
    for index, col in columns.items():
        for i, node in enumerate(col):
            placed[node] = Placed(20 + index * (width + gap_x), 20 + i * (height + gap_y), index)
    return placed


def _svg_graph(nodes: list[tuple[str, str, str, str, str]], edges: list[tuple[str, str, str]], label: str,
               width: float = 150, height: float = 34) -> str:
    """nodes: (key, text, subtitle, colour, href); edges: (from, to, style) with style solid|dashed|dotted."""
    placed = layered_layout([n[0] for n in nodes], [(a, b) for a, b, _ in edges], width, height)
    if not placed:
        return '<p class="empty">nothing to draw</p>'
    right = max(p.x for p in placed.values()) + width + 20
    bottom = max(p.y for p in placed.values()) + height + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" aria-label="{esc(label)}" '
             f'width="{right:.0f}" height="{bottom:.0f}" viewBox="0 0 {right:.0f} {bottom:.0f}">',
             '<defs><marker id="arrow-' + esc(label.replace(" ", "-")) + '" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#555"/></marker></defs>']
    marker = "arrow-" + esc(label.replace(" ", "-"))
    dash = {"solid": "", "dashed": ' stroke-dasharray="6 4"', "dotted": ' stroke-dasharray="2 3"'}
    for a, b, style in edges:
        if a not in placed or b not in placed or a == b:
            continue
        pa, pb = placed[a], placed[b]
        x1, y1, x2, y2 = pa.x + width, pa.y + height / 2, pb.x, pb.y + height / 2
        if pb.x <= pa.x:  # same column or backwards (cycle): route below
            x1, x2 = pa.x + width / 2, pb.x + width / 2
            y1, y2 = pa.y + height, pb.y
        mid = (x1 + x2) / 2
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
                     f'fill="none" stroke="#777" stroke-width="1.2"{dash.get(style, "")} '
                     f'marker-end="url(#{marker})"/>')
    for key, text, subtitle, colour, href in nodes:
        p = placed[key]
        box = (f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{width}" height="{height}" rx="5" fill="{colour}" '
               f'stroke="#333" stroke-width="0.6"/><text x="{p.x + 6:.1f}" y="{p.y + 14:.1f}" class="n">'
               f'{esc(text[:24])}</text><text x="{p.x + 6:.1f}" y="{p.y + 27:.1f}" class="s">{esc(subtitle[:28])}'
               f'</text><title>{esc(text)} — {esc(subtitle)}</title>')
        parts.append(f'<a href="{esc(href)}">{box}</a>' if href else box)
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------ sections
def _board_table(board: Board) -> str:
    rows = []
    for item in board.stories:
        clusters = " ".join(f'<span class="pill" style="background:{COLOURS[c.status]}">{esc(c.cluster)}: '
                            f'{esc(c.status)}</span>' for c in item.clusters)
        reasons = "<br>".join(esc(r) for c in item.clusters if c.status is not Status.PASS for r in c.reasons[:2])
        deps = ", ".join(f'<a href="#story-{d}">{d}</a>' for d in _dep_numbers(board, item.story.id))
        rows.append(f'<tr id="story-{item.story.number}"><td>{item.story.number}</td><td><code>{esc(item.story.id)}'
                    f'</code><br><small>{esc(item.story.title)}</small></td><td>{esc(item.story.lane)}</td>'
                    f'<td><span class="pill" style="background:{COLOURS[item.status]}">{esc(item.status)}</span></td>'
                    f'<td>{clusters}</td><td>{deps}</td><td class="why">{reasons}</td></tr>')
    return ('<table class="board"><thead><tr><th>#</th><th>story</th><th>lane</th><th>status</th><th>clusters</th>'
            '<th>depends on</th><th>why</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _dep_numbers(board: Board, story_id: str) -> list[int]:
    by_id = {s.story.id: s.story for s in board.stories}
    story = by_id.get(story_id)
    return [by_id[d].number for d in story.deps() if d in by_id] if story else []


def _sprint_gates(board: Board) -> str:
    rows = "".join(f'<tr><td>{g.number}</td><td>{esc(g.title)}</td><td>{esc(g.start)} &ndash; {esc(g.end)}</td>'
                   f'<td class="{"go" if g.go else "nogo"}">{"GO" if g.go else "NO-GO"}</td>'
                   f'<td>{", ".join(esc(b) for b in g.blocking[:8])}{" …" if len(g.blocking) > 8 else ""}</td></tr>'
                   for g in board.sprints)
    return ('<table><thead><tr><th>sprint</th><th>title</th><th>dates</th><th>verdict</th><th>blocking</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')


def _gantt(catalog: Catalog, schedule: Schedule, board: Board, calendar: CalendarSpec) -> str:
    if not schedule.sprints:
        return '<p class="empty">no sprints</p>'
    status = {s.story.id: s.status for s in board.stories}
    first = schedule.sprints[0].sprint.start
    last = schedule.sprints[-1].sprint.end
    days = (last - first).days + 1
    left, row, scale = 260, 14, 900 / max(days, 1)
    stories = [s for s in catalog.stories if s.id in schedule.assignment]
    height = 40 + row * len(stories) + 10
    width = left + days * scale + 20

    def x(day: dt.date) -> float:
        return left + (day - first).days * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" role="img" aria-label="Gantt chart" '
             f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">']
    for start, end in calendar.freezes:
        if end >= first and start <= last:
            parts.append(f'<rect x="{x(max(start, first)):.1f}" y="0" width="{(min(end, last) - max(start, first)).days * scale + scale:.1f}" '
                         f'height="{height}" fill="#cfd8e3"><title>freeze {start} &ndash; {end}</title></rect>')
    for i, planned in enumerate(schedule.sprints):
        sprint = planned.sprint
        shade = "#f3f3f3" if i % 2 == 0 else "#e9eef5"
        parts.append(f'<rect x="{x(sprint.start):.1f}" y="18" width="{sprint.days * scale:.1f}" height="{height - 18}" '
                     f'fill="{shade}" opacity="0.7"/><text x="{x(sprint.start) + 3:.1f}" y="13" class="s">'
                     f'S{sprint.number} {sprint.start:%d %b}</text>')
    for i, story in enumerate(stories):
        planned_sprint = schedule.sprint_of(story.id)
        if planned_sprint is None:
            continue
        sprint = planned_sprint.sprint
        y = 24 + i * row
        colour = COLOURS.get(status.get(story.id, Status.NOT_STARTED), "#999")
        edge = ' stroke="#000" stroke-width="1.4"' if story.id in schedule.critical_path else ""
        parts.append(f'<a href="#story-{story.number}"><text x="4" y="{y + 10}" class="s">{story.number:>2} '
                     f'{esc(story.id[6:34])}</text><rect x="{x(sprint.start):.1f}" y="{y}" '
                     f'width="{max(sprint.days * scale - 2, 2):.1f}" height="{row - 3}" rx="2" fill="{colour}"{edge}>'
                     f'<title>{esc(story.id)}: sprint {sprint.number}, slack {schedule.slack.get(story.id, 0)}'
                     f'</title></rect></a>')
    parts.append("</svg>")
    return "".join(parts)


def _dependency_graph(board: Board) -> str:
    nodes = [(s.story.id, f"{s.story.number} {s.story.id[6:]}", f"{s.status} · {s.story.lane}", COLOURS[s.status],
              f"#story-{s.story.number}") for s in board.stories]
    known = {s.story.id for s in board.stories}
    edges = [(d, s.story.id, "solid") for s in board.stories for d in s.story.depends_on.build if d in known]
    edges += [(d, s.story.id, "dashed") for s in board.stories for d in s.story.depends_on.runtime if d in known]
    return _svg_graph(nodes, edges, "story dependencies", width=170)


def _ks_status(info: KustomizationInfo, findings: list[Finding], cluster: str) -> str:
    mine = [f for f in findings if f.cluster in ("", cluster) and f.kustomization.rsplit("/", 1)[-1] == info.name]
    if not info.built:
        return "unbuilt"
    if any(f.severity is Severity.ERROR for f in mine):
        return "error"
    if any(f.severity is Severity.WARNING for f in mine):
        return "warning"
    return "ok"


def _kustomization_graph(cluster: str, infos: dict[str, KustomizationInfo], findings: list[Finding]) -> str:
    nodes = []
    for name in sorted(infos):
        info = infos[name]
        state = _ks_status(info, findings, cluster)
        nodes.append((name, name, f"{state} · {info.path.split('/')[-2] if '/' in info.path else info.path}",
                      KS_COLOURS[state], f"#findings-{cluster}-{name}" if state in ("error", "warning") else ""))
    edges = [(d, name, "solid") for name, info in infos.items() for d in info.depends_on]
    edges += [(info.parent, name, "dotted") for name, info in infos.items() if info.parent]
    return _svg_graph(nodes, edges, f"kustomizations {cluster}")


def _findings(findings: list[Finding], limit: int = 400) -> str:
    if not findings:
        return '<p class="empty">no findings</p>'
    rows, anchored = [], set()
    for f in findings[:limit]:
        anchor = ""
        name = f.kustomization.rsplit("/", 1)[-1]
        key = f"findings-{f.cluster}-{name}"
        if name and key not in anchored:
            anchored.add(key)
            anchor = f' id="{esc(key)}"'
        rows.append(f'<tr{anchor} class="{esc(f.severity)}"><td>{esc(f.severity)}</td><td>{esc(f.rule)}</td>'
                    f'<td>{esc(f.cluster)}</td><td>{esc(f.kustomization)}</td><td><code>{esc(f.location())}</code></td>'
                    f'<td>{esc(f.message)}{"<br><small>hint: " + esc(f.hint) + "</small>" if f.hint else ""}</td></tr>')
    more = f"<p>{len(findings) - limit} more findings not shown (see <code>greenfield validate --format json</code>)</p>" \
        if len(findings) > limit else ""
    return ('<table class="findings"><thead><tr><th>severity</th><th>rule</th><th>cluster</th><th>kustomization</th>'
            '<th>where</th><th>message</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>" + more)


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
nav{background:#e8edf3;padding:8px 24px;position:sticky;top:0;z-index:2}nav a{margin-right:16px;color:#1f3a5f}
main{padding:0 24px 40px}section{margin:24px 0}h2{border-bottom:2px solid #1f3a5f;padding-bottom:4px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #ddd;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#eef2f7}.pill{display:inline-block;color:#fff;border-radius:9px;
padding:0 7px;margin:1px;font-size:12px;white-space:nowrap}.why{font-size:12px;color:#555}.go{color:#2e9d4f;
font-weight:bold}.nogo{color:#d64541;font-weight:bold}.scroll{overflow:auto;border:1px solid #ddd;background:#fff}
svg text.n{font-size:11px;fill:#fff;font-weight:bold}svg text.s{font-size:10px;fill:#222}svg.graph text.s{fill:#fff}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:8px 14px;min-width:90px}.card b{font-size:22px;display:block}.legend span{margin-right:12px}
tr.error td:first-child{color:#d64541}tr.warning td:first-child{color:#b07000}:target{outline:3px solid #f5b700}
.empty{color:#888}
"""

JS = """
(function(){var links=document.querySelectorAll('a[href^="#"]'),broken=[];links.forEach(function(a){
var id=a.getAttribute('href').slice(1);if(!document.getElementById(id))broken.push(id);});
document.body.setAttribute('data-links',String(links.length));
document.body.setAttribute('data-broken-links',broken.join(' '));
var hash=decodeURIComponent(location.hash.slice(1));
document.body.setAttribute('data-target',hash&&document.getElementById(hash)?hash:'');
window.addEventListener('load',function(){var t=document.querySelector(':target');
document.body.setAttribute('data-target-css',t?t.id:'');
document.body.setAttribute('data-scroll',String(Math.round(window.scrollY)));});})();
document.querySelectorAll('[data-filter]').forEach(function(box){box.addEventListener('input',function(){
var q=box.value.toLowerCase();document.querySelectorAll(box.dataset.filter+' tbody tr').forEach(function(r){
r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
"""


def render_report(catalog: Catalog, board: Board, schedule: Schedule, calendar: CalendarSpec,
                  findings: list[Finding] | None, kustomizations: dict[str, dict[str, KustomizationInfo]],
                  generated: dt.datetime, notes: Iterable[str] = ()) -> str:
    counts = board.counts()
    cards = "".join(f'<div class="card" style="border-top:4px solid {COLOURS[Status(k)]}"><b>{v}</b>{esc(k)}</div>'
                    for k, v in counts.items())
    legend = "".join(f'<span><span class="pill" style="background:{c}">{esc(s)}</span></span>'
                     for s, c in COLOURS.items())
    ks_legend = "".join(f'<span><span class="pill" style="background:{c}">{esc(s)}</span></span>'
                        for s, c in KS_COLOURS.items())
    clusters = sorted(kustomizations)
    nav = ['<a href="#summary">summary</a>', '<a href="#board">board</a>', '<a href="#gantt">schedule</a>',
           '<a href="#dependencies">dependencies</a>']
    nav += [f'<a href="#kustomizations-{esc(c)}">{esc(c)} kustomizations</a>' for c in clusters]
    nav.append('<a href="#findings">findings</a>')
    ks_sections = "".join(
        f'<section id="kustomizations-{esc(c)}"><h2>Flux Kustomizations — {esc(c)}</h2><p class="legend">{ks_legend}'
        ' solid arrow: dependsOn · dotted arrow: parent creates child</p>'
        f'<div class="scroll">{_kustomization_graph(c, kustomizations[c], findings or [])}</div></section>'
        for c in clusters)
    all_notes = [*board.notes, *notes, *schedule.notes]
    if findings is None:
        all_notes.append("validation did not run: no findings and no Kustomization graphs")
    notes_html = "".join(f"<li>{esc(n)}</li>" for n in all_notes)
    crit = " → ".join(f'<a href="#story-{catalog.by_id[s].number}">{catalog.by_id[s].number}</a>'
                      for s in schedule.critical_path)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>greenfield plan report</title><style>{CSS}</style></head><body>
<header><h1>greenfield — delivery plan report</h1><div>generated {esc(generated.strftime("%Y-%m-%d %H:%M UTC"))} ·
go/no-go from schedule <code>{esc(board.schedule)}</code> · Gantt: <code>{esc(schedule.strategy)}</code></div></header>
<nav>{"".join(nav)}</nav><main>
<section id="summary"><h2>Summary</h2><div class="cards">{cards}</div>
<h3>Sprint go/no-go ({esc(board.schedule)})</h3>{_sprint_gates(board)}
<ul>{notes_html}</ul></section>
<section id="board"><h2>Story board</h2><p class="legend">{legend}</p>
<p><input data-filter=".board" placeholder="filter stories" aria-label="filter stories"></p>{_board_table(board)}</section>
<section id="gantt"><h2>Schedule ({esc(schedule.strategy)})</h2><p>Critical path ({schedule.critical_points:g} points,
outlined bars): {crit}</p><div class="scroll">{_gantt(catalog, schedule, board, calendar)}</div></section>
<section id="dependencies"><h2>Story dependencies</h2><p class="legend">{legend} solid: build-time ·
dashed: runtime order</p><div class="scroll">{_dependency_graph(board)}</div></section>
{ks_sections}
<section id="findings"><h2>Findings</h2><p><input data-filter=".findings" placeholder="filter findings"
aria-label="filter findings"></p>{_findings(findings or [])}</section>
</main><script>{JS}</script></body></html>
"""
