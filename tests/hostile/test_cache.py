"""The cache lives outside the validated repository, is private, verified, and never holds Secret values."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from tests.hostile.conftest import greenfield, validate_json

from greenfield.adapters.cache import CacheStore, cache_folder

BROKEN = "kubernetes/apps/grafana/app/dashboard.yaml"
TOKEN = "sup3r-s3cret-token-4d1c"
TREE_SECRET = "tree-secret-password-9b2e"


def _break(repo: Path) -> None:
    """Two real problems: a document without kind (kustomize error) and an undefined variable."""
    path = repo / BROKEN
    path.write_text(path.read_text(encoding="utf-8").replace("kind: ConfigMap", "", 1), encoding="utf-8")


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def test_the_default_cache_is_the_users_not_the_repositorys(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    before = _snapshot(repo)
    result = greenfield("validate", "--no-schema", cwd=repo, home=home)
    assert result.returncode == 0, result.stderr
    assert _snapshot(repo) == before  # nothing written, nothing touched in the repository
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "repo"]  # nor next to it
    folder = cache_folder(repo, home / ".cache" / "greenfield")
    assert _files(folder / "builds")
    assert sorted(p.name for p in (home / ".cache" / "greenfield" / "repos").iterdir()) == [folder.name]


def test_cache_folders_are_0700_and_files_0600(tmp_path: Path, repo: Path) -> None:
    cache = tmp_path / "cache"
    validate_json(repo, cache)
    entries = list(cache.rglob("*"))
    assert entries
    for path in [cache, *entries]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_forged_or_corrupt_entry_is_never_trusted(tmp_path: Path, repo: Path) -> None:
    _break(repo)
    cache = tmp_path / "cache"
    first = validate_json(repo, cache)
    assert any(f["severity"] == "error" for f in first)
    builds = _files(cache_folder(repo, cache) / "builds")
    assert builds
    for index, path in enumerate(builds):
        header, text = path.read_text(encoding="utf-8").split("\n", 1)
        entry = json.loads(text)
        entry["documents"], entry["error"] = [], ""  # "no objects, no error": the forger's wish
        forged = json.dumps(entry)
        # three forgeries: the old header on new content, no header, and garbage (truncated file)
        path.write_text([f"{header}\n{forged}", forged, header[:10]][index % 3], encoding="utf-8")
    assert validate_json(repo, cache) == first


def test_one_repositorys_entries_do_not_verify_in_anothers_folder(tmp_path: Path, repo: Path) -> None:
    """Entries of a repository where a file is broken, copied into a clean repository's folder."""
    cache = tmp_path / "cache"
    broken = tmp_path / "broken"
    broken.mkdir()
    from tests.hostile.conftest import copy_basic

    other = copy_basic(broken)
    _break(other)
    validate_json(other, cache)
    assert validate_json(repo, cache) == []
    source, target = cache_folder(other, cache), cache_folder(repo, cache)
    for path in _files(source / "builds"):
        copied = target / path.relative_to(source)
        copied.parent.mkdir(parents=True, exist_ok=True)
        copied.write_bytes(path.read_bytes())
    assert validate_json(repo, cache) == []
    assert CacheStore(source).read("key") is None  # the key itself is no entry


def test_a_greenfield_symlink_in_the_repository_redirects_nothing(tmp_path: Path, repo: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / ".greenfield").symlink_to(outside, target_is_directory=True)
    home = tmp_path / "home"
    assert greenfield("validate", "--no-schema", cwd=repo, home=home).returncode == 0
    assert greenfield("validate", "--no-schema", "--changed-since", "HEAD", cwd=repo, home=home).returncode == 1
    assert list(outside.iterdir()) == []


def test_a_symlink_planted_in_the_cache_is_never_written_through(tmp_path: Path, repo: Path) -> None:
    cache = tmp_path / "cache"
    first = validate_json(repo, cache)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = cache_folder(repo, cache)
    for child in ("builds", "substituted"):
        for path in sorted((folder / child).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (folder / child).rmdir()
        (folder / child).symlink_to(outside, target_is_directory=True)
    (folder / "last-builds.json").unlink()
    (folder / "last-builds.json").symlink_to(outside / "index.json")
    repo.joinpath("kubernetes/apps/podinfo/app/configmap.yaml").write_text(
        repo.joinpath("kubernetes/apps/podinfo/app/configmap.yaml").read_text(encoding="utf-8") + "# edit\n",
        encoding="utf-8")
    assert validate_json(repo, cache) == first
    assert list(outside.iterdir()) == []
    assert not (folder / "last-builds.json").is_symlink()  # replaced by a real file, never followed


def test_secret_values_never_reach_the_cache(tmp_path: Path, repo: Path) -> None:
    supplied = tmp_path / "in-cluster.yaml"
    supplied.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
                        f"stringData:\n  API_TOKEN: {TOKEN}\n", encoding="utf-8")
    configmap = repo / "kubernetes/apps/podinfo/app/configmap.yaml"
    configmap.write_text(configmap.read_text(encoding="utf-8").replace("logLevel: info", "token: ${API_TOKEN}"),
                         encoding="utf-8")
    encoded = base64.b64encode(TREE_SECRET.encode()).decode()
    (repo / "kubernetes/apps/podinfo/app/secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n"
        f"data:\n  password: {encoded}\nstringData:\n  other: {TREE_SECRET}\n", encoding="utf-8")
    cache = tmp_path / "cache"
    cold = validate_json(repo, cache, "--substitute-from", str(supplied))
    assert "secrets/plaintext" in {f["rule"] for f in cold}  # the rules still see the values
    assert validate_json(repo, cache, "--substitute-from", str(supplied)) == cold  # warm: the same
    assert _files(cache)
    for path in _files(cache):
        data = path.read_bytes()
        for value in (TOKEN, TREE_SECRET, encoded, base64.b64encode(TOKEN.encode()).decode()):
            assert value.encode() not in data, (path, value)
