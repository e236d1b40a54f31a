ARG BASE
FROM ${BASE}
# buildah 1.28 has no --exclude: copy the remaining sources one by one.
COPY keep.txt /app/
COPY dir /app/dir/
COPY dir/b.txt /docs/
COPY dir/sub/d.txt /docs/sub/
