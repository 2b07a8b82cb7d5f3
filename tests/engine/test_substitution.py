"""postBuild substitution against Flux's documented behaviour (fluxcd/pkg/envsubst + kustomize-controller)."""

from __future__ import annotations

import pytest

from greenfield.core import substitution as subst
from greenfield.core.substitution import SubstitutionError, expand

VARS = {"NAME": "podinfo", "EMPTY": "", "PATHLIKE": "a/b/c", "MIXED": "Hello"}


@pytest.mark.parametrize(("text", "expected"), [
    ("${NAME}", "podinfo"),
    ("x-${NAME}-y", "x-podinfo-y"),
    ("$${NAME}", "${NAME}"),  # the documented escape
    ("$$NAME", "$NAME"),  # `$$` always collapses to `$`
    ("$NAME", "$NAME"),  # bare $VAR is never expanded by Flux
    ("$HOME/bin", "$HOME/bin"),
    ("cost: 5$", "cost: 5$"),
    ("${MISSING}", ""),  # undefined without default: empty (no strict feature gate)
    ("${MISSING:=fallback}", "fallback"),
    ("${MISSING:-fallback}", "fallback"),
    ("${MISSING=fallback}", "fallback"),
    ("${EMPTY:=fallback}", "fallback"),  # empty counts as unset for every default form
    ("${NAME:=fallback}", "podinfo"),
    ("${MISSING:=${NAME}}", "podinfo"),  # nested default
    ("${MISSING:=a b c}", "a b c"),
    ("${#NAME}", "7"),
    ("${MIXED^^}", "HELLO"),
    ("${MIXED,,}", "hello"),
    ("${NAME^}", "Podinfo"),
    ("${NAME:3}", "info"),
    ("${NAME:0:3}", "pod"),
    ("${PATHLIKE#*/}", "b/c"),
    ("${PATHLIKE%/*}", "a/b"),
    ("${NAME/info/cast}", "podcast"),
    ("${PATHLIKE//\\//-}", "a-b-c"),
    ("${NAME/#pod/cod}", "codinfo"),
    ("${NAME/%info/s}", "pods"),
    ("$$${NAME}", "$podinfo"),
])
def test_expansion(text: str, expected: str) -> None:
    assert expand(text, VARS).text == expected


@pytest.mark.parametrize(("text", "message"), [
    ("${NAME-default}", "missing closing brace"),  # only the colon forms and `=` are defaults
    ("${}", "unable to parse variable name"),
    ("${ NAME}", "unable to parse variable name"),
    ("${NAME", "missing closing brace"),
    ("${NAME:=x", "unable to parse substitution within function"),
    ("${NAME/x}", "bad substitution"),
])
def test_syntax_errors_fail_like_flux(text: str, message: str) -> None:
    with pytest.raises(SubstitutionError, match=message):
        expand(text, VARS)


def test_strict_mode_fails_on_undefined_without_default() -> None:
    with pytest.raises(SubstitutionError, match='variable not set \\(strict mode\\): "MISSING"'):
        expand("${MISSING}", VARS, strict=True)
    assert expand("${MISSING:=ok}", VARS, strict=True).text == "ok"


def test_references_record_undefined_variables() -> None:
    result = expand("${NAME} ${MISSING} ${OTHER:=x} $${ESCAPED}", VARS)
    assert [r.name for r in result.undefined] == ["MISSING"]
    assert result.escapes == 1


def test_variable_names_follow_the_controller_regex() -> None:
    assert subst.invalid_names({"GOOD_1": "", "_x": "", "1BAD": "", "bad-name": "", "a.b": ""}) == [
        "1BAD", "a.b", "bad-name"]


def test_values_lose_newlines_and_inline_substitute_wins() -> None:
    variables = subst.resolve_variables([{"A": "one\ntwo", "B": "from-map"}], {"B": "inline"})
    assert variables == {"A": "onetwo", "B": "inline"}


def test_disabled_by_label_or_annotation() -> None:
    for section in ("labels", "annotations"):
        body = {"metadata": {section: {subst.SUBSTITUTE_KEY: "disabled"}}}
        assert subst.is_disabled(body)
    assert not subst.is_disabled({"metadata": {"annotations": {subst.SUBSTITUTE_KEY: "enabled"}}})


def test_object_substitution_retypes_plain_scalars() -> None:
    body = {"apiVersion": "v1", "kind": "X", "spec": {"replicas": "${N}", "enabled": "${B}", "text": "n=${N}"}}
    outcome = subst.substitute_object(body, {"N": "3", "B": "true"})
    assert outcome.body is not None
    assert outcome.body["spec"] == {"replicas": 3, "enabled": True, "text": "n=3"}


def test_object_substitution_detects_broken_yaml() -> None:
    body = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "${NAME}"}}
    outcome = subst.substitute_object(body, {"NAME": "a: b"})
    assert outcome.body is None and outcome.error_kind == "yaml"
    assert outcome.error.startswith("YAMLToJSON:")


def test_object_substitution_multiline_values_stay_literal_blocks() -> None:
    body = {"kind": "ConfigMap", "data": {"script": "#!/bin/sh\necho \"$${HOME}\" ${NAME}\n"}}
    outcome = subst.substitute_object(body, {"NAME": 'a "quoted" value'})
    assert outcome.body is not None
    assert outcome.body["data"]["script"] == '#!/bin/sh\necho "${HOME}" a "quoted" value\n'


def test_emptied_fields() -> None:
    before = {"a": "${X}", "b": ["${Y}", "keep"], "c": "static"}
    after = {"a": None, "b": ["", "keep"], "c": "static"}
    assert subst.emptied_fields(before, after) == ["a", "b[0]"]
