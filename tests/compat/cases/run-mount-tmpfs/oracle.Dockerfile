ARG BASE
FROM ${BASE}
# buildah 1.28 spells the size option tmpfs-size (see QUIRKS).
# tmpfs: what RUN writes there is gone with the RUN (and so is the mount point).
RUN --mount=type=tmpfs,target=/scratch echo temporary > /scratch/file && ls /scratch > /tmpfs-listing.txt
RUN --mount=type=tmpfs,target=/deep/er/scratch,tmpfs-size=1m touch /deep/er/scratch/x \
 && df -k /deep/er/scratch | tail -n 1 | tr -s ' ' | cut -d' ' -f2 > /tmpfs-size.txt
# Mounted over a directory of the base, it hides that directory's files for this RUN
# only: the image keeps /srv/existing/keep.txt and gets no transient file.
RUN --mount=type=tmpfs,target=/srv/existing (ls -A /srv/existing; echo end) > /hidden-listing.txt \
 && touch /srv/existing/transient
