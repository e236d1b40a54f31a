#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the repository's golden inputs (run from the repo root).
set -eu
c=fuzz/corpus
mkdir -p $c/dockerfile $c/oci_text $c/versions $c/cvss $c/sbom $c/vulndata $c/secrets $c/layers
i=0
for f in builder/tests/testdata/parser/*/Dockerfile tests/fixtures/sbom/*/Dockerfile; do
  i=$((i+1)); cp "$f" $c/dockerfile/golden$i
done
for f in builder/tests/testdata/*ignore* ; do [ -f "$f" ] && cp "$f" $c/dockerfile/ || true; done
printf 'docker.io/library/alpine:3.20@sha256:%064d' 0 > $c/oci_text/ref
printf 'linux/arm64/v8' > $c/oci_text/platform
printf 'sha256:%064d' 0 > $c/oci_text/digest
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064d","size":2},"layers":[]}' 0 > $c/oci_text/manifest
# versions: scheme byte, then three versions a line each, from the test vectors.
n=0
for s in dpkg rpm apk pep440 semver go maven rubygems; do
  grep -v '^#' gates/tests/testdata/versions/$s.txt | awk 'NF>=3 {print $1; print $3}' | paste -d'\n' - - - 2>/dev/null | head -300 > /tmp/v.$$ || true
  k=0
  while IFS= read -r a && IFS= read -r b && IFS= read -r d; do
    k=$((k+1)); { printf "\\$(printf %03o $n)"; printf '%s\n%s\n%s' "$a" "$b" "$d"; } > $c/versions/$s$k
  done < /tmp/v.$$
  n=$((n+1))
done
rm -f /tmp/v.$$
printf 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' > $c/cvss/v31
printf 'AV:N/AC:L/Au:N/C:P/I:P/A:P' > $c/cvss/v2
printf 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' > $c/cvss/v4
# sbom: parser byte (order of Parser::ALL), then the file.
r=tests/fixtures/sbom
p() { { printf "\\$(printf %03o $1)"; cat "$2"; } > $c/sbom/$1-$(basename "$2"); }
p 0 $r/alpine/rootfs/lib/apk/db/installed
p 1 $r/debian/rootfs/var/lib/dpkg/status
p 2 $r/alpine/rootfs/usr/local/bin/hello-go
p 3 $r/alpine/rootfs/opt/app/app.jar
p 4 $r/alpine/rootfs/app/node_modules/left-pad/package.json
p 5 $r/alpine/rootfs/srv/php/vendor/composer/installed.json
p 6 $r/alpine/rootfs/usr/lib/python3.12/site-packages/six-1.16.0.dist-info/METADATA
for f in $(find $r/fedora -name 'rpmdb.sqlite'); do p 7 "$f"; done
p 8 $r/alpine/rootfs/usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec
p 9 $r/alpine/rootfs/usr/local/bin/hello-auditable
p 10 $r/debian/rootfs/usr/share/doc/libfoo1/copyright
cp tests/fixtures/osv/*.json $c/vulndata/
cp gates/src/secrets/rules.toml $c/secrets/
for f in $r/debian/rootfs/etc/os-release $r/debian/rootfs/var/lib/dpkg/status; do cp "$f" $c/secrets/; done
# layers: a small tar (flag byte 0) and its gzip (flag byte 1).
tar -C $r/debian/rootfs -cf /tmp/l.$$ etc var
{ printf '\000'; cat /tmp/l.$$; } > $c/layers/tar
{ printf '\001'; gzip -c /tmp/l.$$; } > $c/layers/gz
rm -f /tmp/l.$$
