ARG BASE
FROM ${BASE}
# buildah 1.28 has no --parents: spell out each source's parent path.
COPY a/b/one.txt /p/a/b/
COPY a/c/two.txt /p/a/c/
COPY x/y1/z.txt /glob/x/y1/
COPY x/y2/z.txt /glob/x/y2/
WORKDIR /w
COPY a/b /rel/a/b/
