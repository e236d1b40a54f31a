#!/usr/bin/env python3
"""A TUF repository for tests/tuf.rs, written with python-tuf's metadata API (the TUF
reference implementation), and served on 127.0.0.1.

    tuf_repo.py DIR init TRUSTED_ROOT SIGNING_CONFIG   root v1, targets, snapshot, timestamp
    tuf_repo.py DIR publish                            a new snapshot and timestamp
    tuf_repo.py DIR expire-timestamp                   a new timestamp that has expired
    tuf_repo.py DIR rollback-snapshot                  a new timestamp naming an older snapshot
    tuf_repo.py DIR rotate-root [--only-new]           root v+1 with a new root key, signed by
                                                       the old and the new key (or the new only)
    tuf_repo.py DIR tamper-target NAME                 changes a byte of a served target file
    tuf_repo.py DIR serve                              prints the port, serves DIR/repo

Consistent snapshots: N.root.json, N.snapshot.json, N.targets.json, targets/HASH.NAME.
Private keys are test keys, kept as PEM files in DIR/keys.
"""

import datetime
import functools
import hashlib
import http.server
import os
import shutil
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    MetaFile,
    Metadata,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

TARGET_NAMES = ("trusted_root.json", "signing_config.v0.2.json")


def expires(days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now + datetime.timedelta(days=days)


class Repo:
    def __init__(self, base):
        self.repo = os.path.join(base, "repo")
        self.keys = os.path.join(base, "keys")
        os.makedirs(os.path.join(self.repo, "targets"), exist_ok=True)
        os.makedirs(self.keys, exist_ok=True)

    def signer(self, name, kind="ecdsa"):
        path = os.path.join(self.keys, name + ".pem")
        if os.path.exists(path):
            with open(path, "rb") as f:
                return CryptoSigner(load_pem_private_key(f.read(), None))
        signer = (
            CryptoSigner.generate_ecdsa()
            if kind == "ecdsa"
            else CryptoSigner.generate_ed25519()
        )
        with open(path, "wb") as f:
            f.write(signer.private_bytes)
        return signer

    def path(self, name):
        return os.path.join(self.repo, name)

    def write(self, md, *names):
        for name in names:
            md.to_file(self.path(name), JSONSerializer(compact=False))

    def read(self, name):
        return Metadata.from_file(self.path(name))

    def meta_of(self, name):
        with open(self.path(name), "rb") as f:
            data = f.read()
        return {"length": len(data), "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}

    def timestamp(self, snapshot_version, days=1):
        old = self.read("timestamp.json").signed.version if os.path.exists(self.path("timestamp.json")) else 0
        meta = self.meta_of(f"{snapshot_version}.snapshot.json")
        md = Metadata(
            Timestamp(
                version=old + 1,
                expires=expires(days),
                snapshot_meta=MetaFile(snapshot_version, meta["length"], meta["hashes"]),
            )
        )
        md.sign(self.signer("timestamp", "ed25519"))
        self.write(md, "timestamp.json")

    def snapshot(self, targets_version):
        current = self.current_snapshot()
        md = Metadata(
            Snapshot(
                version=current + 1,
                expires=expires(30),
                meta={"targets.json": MetaFile(targets_version)},
            )
        )
        md.sign(self.signer("snapshot", "ed25519"))
        self.write(md, f"{current + 1}.snapshot.json")
        return current + 1

    def current_snapshot(self):
        if not os.path.exists(self.path("timestamp.json")):
            return 0
        return self.read("timestamp.json").signed.snapshot_meta.version

    def current_root(self):
        return self.read("root.json")

    def init(self, trusted_root, signing_config):
        root = Root(expires=expires(365), consistent_snapshot=True)
        for role, key, kind in [
            ("root", "root1", "ecdsa"),
            ("timestamp", "timestamp", "ed25519"),
            ("snapshot", "snapshot", "ed25519"),
            ("targets", "targets", "ecdsa"),
        ]:
            root.add_key(self.signer(key, kind).public_key, role)
        md = Metadata(root)
        md.sign(self.signer("root1"))
        self.write(md, "1.root.json", "root.json")

        targets = Targets(version=1, expires=expires(30))
        for name, source in zip(TARGET_NAMES, (trusted_root, signing_config)):
            info = TargetFile.from_file(name, source, ["sha256"])
            shutil.copyfile(source, self.path(f"targets/{info.hashes['sha256']}.{name}"))
            targets.targets[name] = info
        md = Metadata(targets)
        md.sign(self.signer("targets"))
        self.write(md, "1.targets.json")
        self.timestamp(self.snapshot(1))

    def rotate_root(self, only_new):
        old = self.current_root()
        number = old.signed.version + 1
        old_key = f"root{number - 1}"
        new_key = f"root{number}"
        root = old.signed
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        root.add_key(self.signer(new_key).public_key, "root")
        root.version = number
        md = Metadata(root)
        if not only_new:
            md.sign(self.signer(old_key), append=True)
        md.sign(self.signer(new_key), append=True)
        self.write(md, f"{number}.root.json", "root.json")

    def tamper_target(self, name):
        targets_version = self.read(f"{self.current_snapshot()}.snapshot.json").signed.meta["targets.json"].version
        info = self.read(f"{targets_version}.targets.json").signed.targets[name]
        path = self.path(f"targets/{info.hashes['sha256']}.{name}")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[-2] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)

    def serve(self):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=self.repo)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()


def main():
    repo = Repo(sys.argv[1])
    op, args = sys.argv[2], sys.argv[3:]
    if op == "init":
        repo.init(*args)
    elif op == "publish":
        repo.timestamp(repo.snapshot(1))
    elif op == "expire-timestamp":
        repo.timestamp(repo.current_snapshot(), days=-1)
    elif op == "rollback-snapshot":
        repo.timestamp(repo.current_snapshot() - 1)
    elif op == "rotate-root":
        repo.rotate_root(args == ["--only-new"])
    elif op == "tamper-target":
        repo.tamper_target(*args)
    elif op == "serve":
        repo.serve()
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
