ARG BASE
FROM ${BASE}
# buildah 1.28 rejects --link; without it the resulting tree is the same.
COPY a.txt /l/
COPY --chown=app:app dir /l/dir/
COPY a.txt /l/renamed
