#!/usr/bin/env python3
"""A small front for a real registry, for lading's client tests (stdlib only).

It forwards every /v2/ request to UPSTREAM (a `docker-registry` or `lading serve`) and
can add two things the upstream cannot do by itself:

--token-auth USER:PASSWORD
    docker's token authentication ("Token Authentication Specification"): requests
    without a valid bearer token get 401 with
    `WWW-Authenticate: Bearer realm="http://HOST/token",service="regproxy",scope="..."`.
    GET /token?service=…&scope=repository:<name>:<actions>… issues a token: with Basic
    USER:PASSWORD every scope asked for is granted; without credentials only `pull`
    actions are (anonymous pull, as on Docker Hub); wrong credentials get 401. Each
    request is then checked against the token's scopes (GET/HEAD need pull on the
    repository, anything else push).

--cut-patch-after BYTES [--cut-count N]
    the first N PATCH requests (default 1) are cut: BYTES bytes of the body are passed
    on, then both connections are closed without an answer, as when a network drops.

--lie-about-tags
    answers to HEAD/GET of a manifest by tag carry a wrong Docker-Content-Digest (a
    registry that changed what was pushed, as far as the client can tell).

--cut-blob-get-after BYTES
    the first answer to a blob GET longer than BYTES is cut after BYTES bytes.

Every request is logged on stderr as `METHOD PATH -> STATUS` (`-> CUT` when cut),
token requests as `TOKEN scope=… user=… granted=…`. The first line on stdout is
`listening on 127.0.0.1:PORT`.
"""

import argparse
import base64
import hashlib
import http.client
import http.server
import secrets
import socket
import sys
import threading
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host", "authorization",
       "content-length"}


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class State:
    def __init__(self, args):
        self.upstream = urllib.parse.urlsplit(args.upstream)
        self.user = None
        if args.token_auth:
            self.user = tuple(args.token_auth.split(":", 1))
        self.cut_after = args.cut_patch_after
        self.cuts_left = args.cut_count if args.cut_patch_after is not None else 0
        self.get_cut = args.cut_blob_get_after
        self.lie = args.lie_about_tags
        self.tokens = {}  # token -> set of (name, action)
        self.lock = threading.Lock()
        self.port = None


def required(method, path):
    """(repository, action) a /v2/ request needs; None for /v2/ itself."""
    rest = path.split("?", 1)[0][len("/v2/"):]
    if not rest:
        return None
    parts = rest.split("/")
    for marker in ("blobs", "manifests", "tags", "referrers"):
        if marker in parts:
            i = len(parts) - 1 - parts[::-1].index(marker)
            name = "/".join(parts[:i])
            break
    else:
        name = "/".join(parts)
    action = "pull" if method in ("GET", "HEAD") else "push"
    return name, action


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *a):
        pass

    # --- helpers -----------------------------------------------------------
    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log(f"{self.command} {self.path} -> {status}")

    def challenge(self, scope):
        realm = f"http://127.0.0.1:{self.state.port}/token"
        value = f'Bearer realm="{realm}",service="regproxy"'
        if scope:
            value += f',scope="{scope}"'
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        self.reply(401, body, [("WWW-Authenticate", value),
                               ("Content-Type", "application/json")])

    def body_length(self):
        return int(self.headers.get("Content-Length") or 0)

    def drain(self):
        n = self.body_length()
        while n > 0:
            k = len(self.rfile.read(min(n, 1 << 16)))
            if k == 0:
                break
            n -= k

    # --- token endpoint ----------------------------------------------------
    def token(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        scopes = q.get("scope", [])
        authz = self.headers.get("Authorization", "")
        user = None
        if authz.lower().startswith("basic "):
            try:
                u, p = base64.b64decode(authz[6:]).decode().split(":", 1)
            except Exception:
                u, p = None, None
            if (u, p) != self.state.user:
                log(f"TOKEN scope={scopes} user={u} refused")
                return self.reply(401, b'{"details":"bad credentials"}',
                                  [("Content-Type", "application/json")])
            user = u
        granted = set()
        for s in scopes:
            for one in s.split(" "):
                bits = one.split(":")
                if len(bits) < 3 or bits[0] != "repository":
                    continue
                name = ":".join(bits[1:-1])
                for action in bits[-1].split(","):
                    if user is not None or action == "pull":
                        granted.add((name, action))
        tok = secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[tok] = granted
        log(f"TOKEN scope={scopes} user={user} granted={sorted(granted)}")
        body = ('{"token":"%s","access_token":"%s","expires_in":300}' % (tok, tok)).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def authorized(self):
        need = required(self.command, self.path)
        authz = self.headers.get("Authorization", "")
        tok = authz[7:] if authz.lower().startswith("bearer ") else None
        with self.state.lock:
            granted = self.state.tokens.get(tok) if tok else None
        if granted is None:
            scope = f"repository:{need[0]}:{need[1] if need[1] == 'pull' else 'pull,push'}" if need else ""
            self.drain()
            self.challenge(scope)
            return False
        if need and need not in granted:
            self.drain()
            self.challenge(f"repository:{need[0]}:{'pull' if need[1] == 'pull' else 'pull,push'}")
            return False
        return True

    # --- forwarding --------------------------------------------------------
    def forward(self):
        st = self.state
        if self.path.startswith("/token"):
            return self.token()
        if st.user is not None and not self.authorized():
            return
        up = http.client.HTTPConnection(st.upstream.hostname, st.upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        n = self.body_length()
        up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        up.putheader("Host", st.upstream.netloc)
        for k, v in headers.items():
            up.putheader(k, v)
        if n or self.command in ("PUT", "POST", "PATCH"):
            up.putheader("Content-Length", str(n))
        up.endheaders()
        cut = False
        if self.command == "PATCH":
            with st.lock:
                if st.cuts_left > 0:
                    st.cuts_left -= 1
                    cut = True
        sent = 0
        while sent < n:
            want = min(n - sent, 1 << 16)
            if cut:
                want = min(want, st.cut_after - sent)
                if want <= 0:
                    break
            chunk = self.rfile.read(want)
            if not chunk:
                break
            up.send(chunk)
            sent += len(chunk)
        if cut:
            log(f"{self.command} {self.path} -> CUT after {sent} bytes")
            try:
                up.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            up.close()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        resp = up.getresponse()
        cut_get = None
        if self.command == "GET" and "/blobs/sha256:" in self.path and resp.status == 200:
            with st.lock:
                if st.get_cut is not None and int(resp.getheader("Content-Length") or 0) > st.get_cut:
                    cut_get, st.get_cut = st.get_cut, None
        self.send_response(resp.status)
        length = resp.getheader("Content-Length")
        body = None
        if length is None and self.command != "HEAD":
            body = resp.read()
            length = str(len(body))
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP:
                continue
            if (lk == "docker-content-digest" and st.lie and "/manifests/" in self.path
                    and ":" not in self.path.rsplit("/", 1)[-1]):
                v = "sha256:" + hashlib.sha256(v.encode()).hexdigest()
            if lk == "location":
                u = urllib.parse.urlsplit(v)
                if u.netloc == st.upstream.netloc:
                    v = urllib.parse.urlunsplit(("http", f"127.0.0.1:{st.port}", u.path, u.query, u.fragment))
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            if body is not None:
                self.wfile.write(body)
            else:
                left = int(length or 0)
                if cut_get is not None:
                    left = min(left, cut_get)
                while left > 0:
                    chunk = resp.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
        up.close()
        if cut_get is not None:
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            log(f"{self.command} {self.path} -> CUT after {cut_get} bytes")
            return
        rng = self.headers.get("Range")
        log(f"{self.command} {self.path}{' range=' + rng if rng else ''} -> {resp.status}")

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that went away mid-answer (an aborted transfer) is not news.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--token-auth", metavar="USER:PASSWORD")
    ap.add_argument("--cut-patch-after", type=int, metavar="BYTES")
    ap.add_argument("--cut-count", type=int, default=1)
    ap.add_argument("--cut-blob-get-after", type=int, metavar="BYTES")
    ap.add_argument("--lie-about-tags", action="store_true")
    args = ap.parse_args()
    st = State(args)
    Handler.state = st
    srv = Server(("127.0.0.1", 0), Handler)
    st.port = srv.server_address[1]
    print(f"listening on 127.0.0.1:{st.port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
