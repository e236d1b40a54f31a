ARG BASE
FROM ${BASE}
# buildah 1.28 has no RUN --network: the build runs with --network=none (oracle.args).
RUN ls /sys/class/net > /interfaces.txt && cat /sys/class/net/lo/flags > /lo-flags.txt
