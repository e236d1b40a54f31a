#!/usr/bin/env python3
"""Builds a trivy vulnerability database (schema version 2) from OSV records.

Usage: trivy_db.py OSV_DIR CACHE_DIR

trivy cannot download its database here, so tests/vuln.rs makes one from the GitHub
advisories in tests/fixtures/osv and runs the real trivy with
`--cache-dir CACHE_DIR --skip-db-update`. It writes CACHE_DIR/db/trivy.db (a BoltDB file,
written with the pure-Python `boltdb` package) and CACHE_DIR/db/metadata.json.

The layout is trivy-db's (github.com/aquasecurity/trivy-db, pkg/db and pkg/vulnsrc/ghsa):

- one bucket per ecosystem and source, `pip::GitHub Security Advisory pip`, holding a
  bucket per (normalised) package name, holding advisory id -> Advisory JSON
  (`VulnerableVersions`, `PatchedVersions`, `VendorIDs`); the id is the CVE alias when
  there is one, and the GHSA id goes into `VendorIDs`, as trivy-db's GHSA source does;
- `vulnerability`: id -> details (`Title`, `Description`, `Severity`, `VendorSeverity`);
- `data-source`: ecosystem bucket name -> `{"ID": "ghsa", "Name": ..., "URL": ...}`.

Only PyPI and npm records are used (the ones the test images hold).
"""

import json
import os
import struct
import sys

from boltdb import BoltDB

ECOSYSTEMS = {"PyPI": "pip", "npm": "npm"}
SEVERITY = {"LOW": (1, "LOW"), "MODERATE": (2, "MEDIUM"), "MEDIUM": (2, "MEDIUM"),
            "HIGH": (3, "HIGH"), "CRITICAL": (4, "CRITICAL")}


def normalise(eco, name):
    if eco == "pip":
        return name.lower().replace("_", "-").replace(".", "-")
    return name


def constraints(ranges):
    """OSV ECOSYSTEM ranges -> trivy constraint strings (one per introduced/fixed pair)."""
    out, patched = [], []
    for r in ranges:
        if r.get("type") != "ECOSYSTEM":
            continue
        introduced = None
        for ev in r.get("events", []):
            if "introduced" in ev:
                introduced = ev["introduced"]
            elif "fixed" in ev or "last_affected" in ev:
                parts = []
                if introduced not in (None, "0"):
                    parts.append(">=" + introduced)
                if "fixed" in ev:
                    parts.append("<" + ev["fixed"])
                    patched.append(ev["fixed"])
                else:
                    parts.append("<=" + ev["last_affected"])
                out.append(", ".join(parts))
                introduced = None
        if introduced is not None:
            out.append(">=" + introduced if introduced != "0" else ">=0")
    return out, patched


def fnv64a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fix_meta_checksums(path):
    """bbolt checks each meta page's FNV-64a checksum; the boltdb package writes 0."""
    with open(path, "r+b") as f:
        head = f.read(16 + 64)
        page_size = struct.unpack_from("<I", head, 16 + 8)[0]
        for page in (0, 1):
            off = page * page_size + 16
            f.seek(off)
            meta = f.read(56)
            f.seek(off + 56)
            f.write(struct.pack("<Q", fnv64a(meta)))


def main():
    osv_dir, cache_dir = sys.argv[1], sys.argv[2]
    advisories = {}  # bucket -> package -> id -> advisory
    details = {}
    for name in sorted(os.listdir(osv_dir)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(osv_dir, name)) as f:
            rec = json.load(f)
        cves = [a for a in rec.get("aliases", []) if a.startswith("CVE-")]
        vuln_id = cves[0] if cves else rec["id"]
        used = False
        for aff in rec.get("affected", []):
            eco = ECOSYSTEMS.get(aff["package"]["ecosystem"])
            if eco is None:
                continue
            vulnerable, patched = constraints(aff.get("ranges", []))
            if not vulnerable:
                continue
            bucket = f"{eco}::GitHub Security Advisory {eco}"
            pkg = normalise(eco, aff["package"]["name"])
            adv = advisories.setdefault(bucket, {}).setdefault(pkg, {}).setdefault(
                vuln_id, {"VulnerableVersions": [], "PatchedVersions": [],
                          "VendorIDs": [rec["id"]]})
            adv["VulnerableVersions"] += vulnerable
            adv["PatchedVersions"] += patched
            used = True
        if used:
            level, word = SEVERITY.get(
                rec.get("database_specific", {}).get("severity", ""), (0, "UNKNOWN"))
            details[vuln_id] = {
                "Title": rec.get("summary", ""),
                "Description": rec.get("details", ""),
                "Severity": word,
                "VendorSeverity": {"ghsa": level},
                "References": [r["url"] for r in rec.get("references", [])],
            }

    db_dir = os.path.join(cache_dir, "db")
    os.makedirs(db_dir, exist_ok=True)
    path = os.path.join(db_dir, "trivy.db")
    if os.path.exists(path):
        os.remove(path)
    db = BoltDB(path)
    with db.update() as tx:
        sources = tx.create_bucket(b"data-source")
        for bucket_name in sorted(advisories):
            eco = bucket_name.split("::")[0]
            sources.put(bucket_name.encode(), json.dumps({
                "ID": "ghsa",
                "Name": f"GitHub Security Advisory {eco}",
                "URL": f"https://github.com/advisories?query=type%3Areviewed+ecosystem%3A{eco}",
            }).encode())
            root = tx.create_bucket(bucket_name.encode())
            for pkg in sorted(advisories[bucket_name]):
                b = root.create_bucket(pkg.encode())
                for vid, adv in sorted(advisories[bucket_name][pkg].items()):
                    b.put(vid.encode(), json.dumps(adv).encode())
        vulns = tx.create_bucket(b"vulnerability")
        for vid in sorted(details):
            vulns.put(vid.encode(), json.dumps(details[vid]).encode())
    db.close()
    db.close = lambda: None  # its __del__ would close the file a second time
    fix_meta_checksums(path)
    # Far in the future, so trivy never thinks it stale (it must not try to download).
    with open(os.path.join(db_dir, "metadata.json"), "w") as f:
        json.dump({"Version": 2, "NextUpdate": "2999-01-01T00:00:00Z",
                   "UpdatedAt": "2024-01-01T00:00:00Z",
                   "DownloadedAt": "2024-01-01T00:00:00Z"}, f)


if __name__ == "__main__":
    main()
