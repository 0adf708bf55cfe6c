# SLURM node/controller image for test/cluster: slurmd + slurmctld, munge,
# an inner Docker engine (docker.io), ssh client, sudo, strace (the bench's
# count of home operations), bindfs (the caching home, CLUSTER_HOME=caching).
# Users alice (1000) and bob (1001), both in the docker group. /etc/slurm is filled at start
# by test/cluster/up.sh. Node processes run as root inside.
ARG BASE=srun-docker/base:bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      slurm-wlm munge docker.io tini openssh-client sudo procps iproute2 \
      libstdc++6 ca-certificates kmod bindfs fuse3 strace \
 && rm -f /etc/munge/munge.key \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN getent group docker >/dev/null || groupadd --system docker \
 && groupadd -g 1000 alice && useradd -M -d /home/alice -s /bin/bash -u 1000 -g 1000 -G docker alice \
 && groupadd -g 1001 bob && useradd -M -d /home/bob -s /bin/bash -u 1001 -g 1001 -G docker bob \
 && mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm /run/munge /run/sshd \
 && chown slurm:slurm /var/spool/slurmctld /var/log/slurm
# build.sh rebuilds a cached image whose srun-docker.rev differs from this one: bump it with every
# change above, or an older image with the same tag is used as it is (2: bindfs, 3: strace)
LABEL srun-docker.rev=3
CMD ["/bin/bash"]
