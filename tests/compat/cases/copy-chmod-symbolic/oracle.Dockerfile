ARG BASE
FROM ${BASE}
# buildah 1.28 only parses octal --chmod; sources are 0644 files and 0755 dirs.
COPY --chmod=0744 a.txt /m/u-plus-x
COPY --chmod=0750 a.txt /m/ugo
COPY --chmod=0600 a.txt /m/go-minus-r
COPY dir /m/dir/
