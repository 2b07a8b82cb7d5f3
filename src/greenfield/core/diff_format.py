"""How a rendered diff is shown (pure: text in, text out): text lines with Rich styles, a pull-request comment
(markdown), JSON, HTML.

Every format reads the same `RenderDiff`; none of them ever sees secret data (core/diff.py withholds it).
The markdown comment stays below GitHub's 65,536-character limit: Kustomizations are added while they fit,
a Kustomization too big for what is left is shown as its object list only, and what still does not fit is
counted in a truncation note. HTML is one self-contained file (inline CSS, no script, no external request).
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Iterator
from typing import Any

from greenfield.core.diff import (
    SECRET_DATA_CHANGED,
    Change,
    ClusterDiff,
    FieldChange,
    KustomizationDiff,
    ObjectDiff,
    RenderDiff,
)

GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_MARKDOWN_LIMIT = 60_000  # room for what a workflow adds around the comment
VALUE_LIMIT = 400  # characters of one value shown inline
FIELD_LIMIT = 60  # field lines of one object before "... n more"
COMMENT_MARKER = "<!-- greenfield-diff -->"  # the GitHub Action finds its own comment by it

_SIGN = {Change.ADDED: "+", Change.REMOVED: "-", Change.CHANGED: "~"}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str) and ("\n" in value or value != value.strip() or value == ""):
        text = json.dumps(value)
    return text if len(text) <= VALUE_LIMIT else text[:VALUE_LIMIT] + f"... ({len(text)} characters)"


def field_lines(item: FieldChange) -> list[str]:
    """The lines of one field change, diff-style: `+ path: value`, `- path: value`, `~ path: old -> new`."""
    if item.secret:
        return [f"{_SIGN[item.change]} {item.path}: {SECRET_DATA_CHANGED}"]
    if item.change == Change.ADDED:
        return [f"+ {item.path}: {_short(item.after)}"]
    if item.change == Change.REMOVED:
        return [f"- {item.path}: {_short(item.before)}"]
    if isinstance(item.before, str) and isinstance(item.after, str) and ("\n" in item.before or "\n" in item.after):
        body = list(difflib.unified_diff(item.before.splitlines(), item.after.splitlines(), lineterm="", n=2))[2:]
        return [f"~ {item.path}:"] + [f"    {line}" for line in body]
    return [f"~ {item.path}: {_short(item.before)} -> {_short(item.after)}"]


def object_lines(item: ObjectDiff, limit: int = FIELD_LIMIT) -> list[str]:
    lines = [line for change in item.fields for line in field_lines(change)]
    if len(lines) > limit:
        lines = [*lines[:limit], f"  ... {len(lines) - limit} more line(s)"]
    return lines


def _moved(item: ObjectDiff) -> str:
    if not item.moved:
        return ""
    return f" (moved {'to' if item.change == Change.REMOVED else 'from'} {item.moved})"


def _object_title(item: ObjectDiff) -> str:
    where = f" ({item.file})" if item.file else ""
    chart = f" [chart {item.chart}]" if item.chart else ""
    return f"{_SIGN[item.change]} {item.object}{chart}{_moved(item)}{where}"


def summary_line(diff: RenderDiff) -> str:
    if diff.empty:
        return f"No change in what Flux applies between {diff.base} and {diff.head}."
    summary = diff.summary()
    line = (f"{summary.added} added, {summary.removed} removed, {summary.changed} changed object(s) in "
            f"{summary.kustomizations} Kustomization(s) of {summary.clusters} cluster(s)")
    if summary.dangers:
        line += f"; {summary.dangers} dangerous change(s)"
    return line


# -- text ------------------------------------------------------------------------------------------

def text_lines(diff: RenderDiff) -> Iterator[tuple[str, str]]:
    """(line, Rich style) pairs: what `greenfield diff` prints on a terminal."""
    yield f"greenfield diff {diff.base} .. {diff.head}", "bold"
    for cluster in diff.clusters:
        yield f"cluster {cluster.name}" + ("" if cluster.change == Change.CHANGED else f" ({cluster.change})"), "bold"
        for kustomization in cluster.kustomizations:
            yield f"  {_SIGN[kustomization.change]} Kustomization {kustomization.name}", "bold cyan"
            for note in kustomization.notes:
                yield f"    note: {note}", "yellow"
            for danger in kustomization.dangers:
                yield f"    DANGER {danger.rule}: {danger.message}", "bold red"
            for item in kustomization.objects:
                yield f"    {_object_title(item)}", _STYLE[item.change]
                for danger in item.dangers:
                    yield f"      DANGER {danger.rule}: {danger.message}", "bold red"
                for line in object_lines(item):
                    change = _line_change(line)
                    yield f"      {line}", _STYLE[change] if change is not None else ""
    yield summary_line(diff), "red" if diff.summary().dangers else "green"


_STYLE = {Change.ADDED: "green", Change.REMOVED: "red", Change.CHANGED: "yellow"}


def _line_change(line: str) -> Change | None:
    return {"+": Change.ADDED, "-": Change.REMOVED, "~": Change.CHANGED}.get(line[:1])


# -- markdown (pull-request comment) ---------------------------------------------------------------

def _fence(lines: list[str]) -> str:
    body = "\n".join(lines).replace("```", "`\u200b``")  # a value cannot close the fence
    return f"```diff\n{body}\n```\n"


def _markdown_kustomization(cluster: ClusterDiff, item: KustomizationDiff, full: bool) -> str:
    counts = {change: sum(1 for o in item.objects if o.change == change) for change in Change}
    danger = f", **{item.danger_count} dangerous**" if item.danger_count else ""
    title = (f"{_SIGN[item.change]} <code>{html.escape(cluster.name)}</code> Kustomization "
             f"<code>{html.escape(item.name)}</code>: +{counts[Change.ADDED]} -{counts[Change.REMOVED]} "
             f"~{counts[Change.CHANGED]}{danger}")
    parts = [f"<details{' open' if item.danger_count else ''}><summary>{title}</summary>\n\n"]
    for note in item.notes:
        parts.append(f"> note: {_md_inline(note)}\n\n")
    for danger_item in item.dangers:
        parts.append(f"> :warning: **{danger_item.rule}**: {_md_inline(danger_item.message)}\n\n")
    for obj in item.objects:
        parts.append(f"**{_SIGN[obj.change]} `{obj.object}`**" + (f" [chart `{obj.chart}`]" if obj.chart else "")
                     + _md_inline(_moved(obj))
                     + (f" `{obj.file}`" if obj.file else "") + "\n")
        for danger_item in obj.dangers:
            parts.append(f"> :warning: **{danger_item.rule}**: {_md_inline(danger_item.message)}\n")
        lines = object_lines(obj) if full else []
        parts.append("\n" + _fence(lines) + "\n" if lines else "\n")
    parts.append("</details>\n\n")
    return "".join(parts)


def _md_inline(text: str) -> str:
    return html.escape(text).replace("|", "\\|").replace("`", "'")


def markdown(diff: RenderDiff, limit: int = DEFAULT_MARKDOWN_LIMIT) -> str:
    """The pull-request comment, at most `limit` characters (GitHub refuses more than 65,536)."""
    head = [COMMENT_MARKER + "\n", f"### greenfield diff: `{diff.base}` → `{diff.head}`\n\n", summary_line(diff), "\n\n"]
    dangers = diff.dangers()
    if dangers:
        head.append("| cluster | Kustomization | object | danger |\n|---|---|---|---|\n")
        for shown, (cluster_name, kustomization, obj, danger) in enumerate(dangers):
            if shown == 50:
                head.append(f"| | | | ... {len(dangers) - 50} more |\n")
                break
            head.append(f"| {_md_inline(cluster_name)} | {_md_inline(kustomization)} | {_md_inline(obj) or '-'} | "
                        f"**{danger.rule}**: {_md_inline(danger.message)} |\n")
        head.append("\n")
    text = "".join(head)
    if len(text) > limit:  # only the danger table can be this long
        text = text[:limit - 200].rsplit("\n", 1)[0] + "\n\n*(truncated)*\n"
        return text
    blocks = [(cluster, item) for cluster in diff.clusters for item in cluster.kustomizations]
    left_out_objects = 0
    left_out = 0
    for cluster, item in blocks:
        reserve = 400  # for the truncation note
        for full in (True, False):
            block = _markdown_kustomization(cluster, item, full)
            if len(text) + len(block) + reserve <= limit:
                text += block
                break
        else:
            left_out += 1
            left_out_objects += len(item.objects)
    if left_out:
        text += (f"**Truncated**: {left_out} more Kustomization(s) ({left_out_objects} object change(s)) do not "
                 "fit in one comment; run `greenfield diff` locally (or `--format html`) for the whole diff.\n")
    return text


# -- JSON and HTML ---------------------------------------------------------------------------------

def as_json(diff: RenderDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, default=str)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}
h1{font-size:1.3em} code,pre{font-family:ui-monospace,monospace;font-size:.9em}
details{border:1px solid #d0d7de;border-radius:6px;margin:.5em 0;padding:.3em .8em}
summary{cursor:pointer;font-weight:600} .added{color:#1a7f37} .removed{color:#cf222e} .changed{color:#9a6700}
.danger{background:#ffebe9;border-left:4px solid #cf222e;padding:.2em .6em;margin:.3em 0}
.note{background:#fff8c5;padding:.2em .6em;margin:.3em 0} pre{background:#f6f8fa;padding:.6em;overflow-x:auto}
table{border-collapse:collapse} td,th{border:1px solid #d0d7de;padding:.2em .6em;text-align:left}
"""


def as_html(diff: RenderDiff) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>greenfield diff {esc(diff.base)} .. {esc(diff.head)}</title><style>{_CSS}</style></head><body>",
             f"<h1>greenfield diff <code>{esc(diff.base)}</code> → <code>{esc(diff.head)}</code></h1>",
             f"<p>{esc(summary_line(diff))}</p>"]
    dangers = diff.dangers()
    if dangers:
        parts.append("<table><tr><th>cluster</th><th>Kustomization</th><th>object</th><th>danger</th></tr>")
        for cluster_name, kustomization, object_name, danger in dangers:
            parts.append(f"<tr><td>{esc(cluster_name)}</td><td>{esc(kustomization)}</td><td>{esc(object_name) or '-'}</td>"
                         f"<td><b>{esc(danger.rule)}</b>: {esc(danger.message)}</td></tr>")
        parts.append("</table>")
    for cluster in diff.clusters:
        parts.append(f"<h2>cluster {esc(cluster.name)}</h2>")
        for item in cluster.kustomizations:
            parts.append(f"<details open><summary class=\"{item.change}\">{_SIGN[item.change]} Kustomization "
                         f"{esc(item.name)} ({len(item.objects)} object change(s))</summary>")
            parts.extend(f"<div class=\"note\">note: {esc(note)}</div>" for note in item.notes)
            parts.extend(f"<div class=\"danger\"><b>{esc(d.rule)}</b>: {esc(d.message)}</div>" for d in item.dangers)
            for obj in item.objects:
                parts.append(f"<h4 class=\"{obj.change}\">{esc(_object_title(obj))}</h4>")
                parts.extend(f"<div class=\"danger\"><b>{esc(d.rule)}</b>: {esc(d.message)}</div>"
                             for d in obj.dangers)
                lines = [line for change in obj.fields for line in field_lines(change)]
                if lines:
                    rendered = "\n".join(f"<span class=\"{_CLASS.get(line[:1], '')}\">{esc(line)}</span>"
                                         for line in lines)
                    parts.append(f"<pre>{rendered}</pre>")
            parts.append("</details>")
    parts.append("</body></html>\n")
    return "".join(parts)


_CLASS = {"+": "added", "-": "removed", "~": "changed"}
