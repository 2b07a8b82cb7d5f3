"""Every message is printed as text: Rich markup, emoji codes and control characters in object names, keys,
arguments and paths print as written (escaped where they would drive the terminal) and never crash the output
or the error handler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inputs_helpers import clean, greenfield, inventory_repo, one_line_error, small_repo, text

HOSTILE_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: "[/x]"
  namespace: flux-system
spec:
  interval: 10m
  path: ./missing/[bold]
  prune: true
  sourceRef:
    kind: GitRepository
    name: "[/flux-system] [a-z]+ :smile:"
"""

HOSTILE_OBJECTS = """\
apiVersion: v1
kind: Secret
metadata:
  name: "[/red]s"
  namespace: "[bold]ns"
stringData:
  password: "plain"
"""


@pytest.fixture()
def hostile_repo(tmp_path: Path) -> Path:
    repo = small_repo(tmp_path, {"kubernetes/clusters/main/ks.yaml": HOSTILE_KUSTOMIZATION,
                                 "kubernetes/clusters/main/secret.yaml": HOSTILE_OBJECTS})
    (repo / "kubernetes/clusters/main/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [cm.yaml, ks.yaml, secret.yaml]\n")
    return repo


def test_markup_in_object_and_kustomization_names_prints_as_written(hostile_repo: Path) -> None:
    result = greenfield("validate", "--repo", str(hostile_repo), "--no-cache", "--no-schema", cwd=hostile_repo)
    out = clean(result, code=1)  # findings: exit 1, printed in full
    assert "flux-system/[/x]" in out  # the table row of the failed Kustomization
    assert "Secret/[bold]ns/[/red]s" in out
    assert "GitRepository flux-system/[/flux-system] [a-z]+ :smile:" in out  # regex and emoji code untouched
    assert "error(s)" in out.splitlines()[-1]


def test_every_output_format_survives_markup(hostile_repo: Path) -> None:
    for output in ("json", "github", "junit"):
        result = greenfield("validate", "--repo", str(hostile_repo), "--no-cache", "--no-schema", "--format", output,
                            cwd=hostile_repo)
        assert "[/x]" in clean(result, code=1)


def test_markup_in_an_argument_is_echoed_verbatim(repo_root: Path) -> None:
    line = one_line_error(greenfield("stories", "--schedule", "[/x] [bold]", cwd=repo_root))
    assert line.startswith("greenfield: unknown schedule '[/x] [bold]'")


def test_markup_in_an_inventory_value_is_echoed_verbatim(tmp_path: Path, repo_root: Path) -> None:
    repo = inventory_repo(tmp_path, repo_root)
    path = repo / "platform.yaml"
    path.write_text(path.read_text().replace("domain: example.com", "domain: '[/x][bold]'", 1))
    out = clean(greenfield("inventory", "check", cwd=repo), code=1)
    assert "platform.domain: '[/x][bold]' is not a lower-case DNS name" in out


def test_markup_in_a_yaml_error_is_echoed_verbatim(tmp_path: Path, repo_root: Path) -> None:
    repo = inventory_repo(tmp_path, repo_root)
    (repo / "platform.yaml").write_text("platform: {[/x]: [bold\n")
    line = one_line_error(greenfield("inventory", "check", cwd=repo))
    assert line.startswith("greenfield: platform.yaml: line ")


def test_control_characters_are_shown_escaped_not_sent_to_the_terminal(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    (repo / "kubernetes/clusters/main/cm.yaml").write_text(
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: "evil\\e[2Jname"\n  namespace: default\n'
        "stringData:\n  password: plain\n")
    result = greenfield("validate", "--repo", str(repo), "--no-cache", "--no-schema", cwd=repo)
    out = clean(result, code=1)
    assert "\x1b" not in out
    assert "evil\\x1b[2Jname" in out


def test_a_path_that_is_not_utf8_is_shown_escaped(tmp_path: Path) -> None:
    line = one_line_error(greenfield("inventory", "check", "--file", b"\xff\xfe-inventory.yaml", cwd=tmp_path))
    assert line == "greenfield: \\xff\\xfe-inventory.yaml: file not found"


def test_the_error_handler_prints_markup_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    from greenfield.cli.main import _fail

    with pytest.raises(SystemExit) as done:
        _fail("internal error: MarkupError('closing tag [/x] at position 3') (hint: [bold]report it)")
    assert done.value.code == 1
    assert capsys.readouterr().err == ("greenfield: internal error: MarkupError('closing tag [/x] at position 3') "
                                       "(hint: [bold]report it)\n")


def test_the_consoles_interpret_no_markup_and_no_emoji() -> None:
    from rich.table import Table

    from greenfield.cli.common import console, err_console, line, styled

    for target in (console, err_console):
        with target.capture() as captured:
            target.print("[/x] [bold]b[/bold] :smile:")
            table = Table()
            table.add_column("c")
            table.add_row("[/y]")
            target.print(table)
            target.print(line("[/z] ", styled("[red]", "red")))
        shown = captured.get()
        assert "[/x] [bold]b[/bold] :smile:" in shown and "[/y]" in shown and "[/z] [red]" in shown


MARKUP_IN_SOURCE = re.compile(r"""["'][^"'\n]*\[/?(?:red|green|yellow|bold|dim|cyan|magenta|blue)\]|\[/\]""")


def test_no_command_builds_markup_strings(repo_root: Path) -> None:
    """Styles are given with styled()/cell()/line() (cli/common.py), never as markup inside a string that may
    carry user data: the consoles have markup off, so such a string would print its tags."""
    offenders = [f"{path.name}:{number}: {source.strip()}"
                 for path in sorted((repo_root / "src/greenfield/cli").glob("*.py"))
                 for number, source in enumerate(path.read_text().splitlines(), start=1)
                 if MARKUP_IN_SOURCE.search(source)]
    assert offenders == []


def test_text_output_is_not_cut_or_wrapped_into_several_lines(hostile_repo: Path) -> None:
    result = greenfield("validate", "--repo", str(hostile_repo), "--no-cache", "--no-schema", cwd=hostile_repo)
    findings = [row for row in text(result.stdout).splitlines() if row.startswith("  error ")]
    assert findings and all("(hint: " in row for row in findings)  # each finding whole on its line


def test_a_terminal_that_cannot_encode_the_output_gets_escapes_not_a_crash(hostile_repo: Path) -> None:
    result = greenfield("validate", "--repo", str(hostile_repo), "--no-cache", "--no-schema", cwd=hostile_repo,
                        env={"PYTHONIOENCODING": "ascii"})
    out = clean(result, code=1)
    assert "flux-system/[/x]" in out and "error(s)" in out
