"""A small HTTP server on 127.0.0.1 for the local GitOps loop: a git repository over the smart HTTP
protocol (Debian's `git http-backend` as a CGI program, run through `Command`) and, optionally, a
folder of packaged Helm charts with its index.yaml (a Helm repository).

    python -m greenfield.adapters.localhttp --port P --git-repo DIR [--charts DIR] [--state DIR]

  http://127.0.0.1:P/platform.git   the repository (clone/fetch; pushes are refused)
  http://127.0.0.1:P/charts/        the Helm repository (index.yaml + .tgz), when --charts is given

Started and stopped by the local control plane (`greenfield local up --with-flux`); `--state` only
marks the process as belonging to a state folder (pid ownership checks look for it in argv).
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from greenfield.adapters.command import Command, which
from greenfield.errors import CommandError

REPO_PATH = "/platform.git"
CHARTS_PATH = "/charts/"
CGI_TIMEOUT_S = 300.0


def git_dir(repo: Path) -> Path:
    """The repository's git directory (`.git` of a working tree, or the repository itself when bare)."""
    git = which("git") or "git"
    result = Command([git, "-C", str(repo), "rev-parse", "--absolute-git-dir"], timeout=30).run()
    return Path(result.stdout.strip())


def parse_cgi(output: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """CGI output -> (status, headers, body); a missing Status header means 200."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = output.partition(separator)
        if found:
            break
    else:
        return 502, [("Content-Type", "text/plain")], b"malformed CGI output\n"
    status = 200
    headers = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.strip().split()[0])
        elif name.strip():
            headers.append((name.strip(), value.strip()))
    return status, headers, body


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, repo: Path, charts: Path | None) -> None:
        self.git_dir = git_dir(repo)
        self.charts = charts.resolve() if charts else None
        self.backend = [which("git") or "git", "http-backend"]
        super().__init__(("127.0.0.1", port), Handler)


class Handler(BaseHTTPRequestHandler):
    server: LocalHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # one line per request, to the log file
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool = False) -> None:
        path, _, query = self.path.partition("?")
        if path == REPO_PATH or path.startswith(REPO_PATH + "/"):
            self._git(path.removeprefix(REPO_PATH), query)
        elif path.startswith(CHARTS_PATH) and self.server.charts is not None and self.command != "POST":
            self._static(self.server.charts, path.removeprefix(CHARTS_PATH), head)
        else:
            self._send(404, [("Content-Type", "text/plain")], b"not found\n")

    def _git(self, rest: str, query: str) -> None:
        if "git-receive-pack" in rest or "service=git-receive-pack" in query:
            self._send(403, [("Content-Type", "text/plain")], b"read-only\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        git = self.server.git_dir
        env = {"GIT_PROJECT_ROOT": str(git.parent), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": f"/{git.name}{rest}", "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(data)),
               "REMOTE_ADDR": self.client_address[0], "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
               "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1"}
        try:
            code, out, err = Command(self.server.backend, env=env, timeout=CGI_TIMEOUT_S).run_bytes(data)
        except CommandError as error:
            self._send(500, [("Content-Type", "text/plain")], f"{error.problem}\n".encode())
            return
        if err:
            sys.stderr.write(err.decode(errors="replace"))
        if code != 0 and not out:
            self._send(500, [("Content-Type", "text/plain")], b"git http-backend failed\n")
            return
        status, headers, body = parse_cgi(out)
        self._send(status, headers, body)

    def _static(self, root: Path, relative: str, head: bool) -> None:
        target = (root / relative.lstrip("/")).resolve()
        if relative in ("", "/"):
            target = root / "index.yaml"
        if root not in target.parents or not target.is_file():
            self._send(404, [("Content-Type", "text/plain")], b"not found\n")
            return
        kind = "application/x-yaml" if target.suffix == ".yaml" else (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        body = target.read_bytes()
        self._send(200, [("Content-Type", kind)], b"" if head else body, length=len(body))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body:
            self.wfile.write(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="greenfield-localhttp", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--git-repo", type=Path, required=True)
    parser.add_argument("--charts", type=Path)
    parser.add_argument("--state", type=Path, help="the state folder this server belongs to (marker only)")
    args = parser.parse_args(argv)
    server = LocalHttpServer(args.port, args.git_repo.resolve(), args.charts)
    sys.stderr.write(f"serving {server.git_dir} at http://127.0.0.1:{args.port}{REPO_PATH}"
                     + (f" and {server.charts} at http://127.0.0.1:{args.port}{CHARTS_PATH}" if server.charts else "")
                     + "\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
