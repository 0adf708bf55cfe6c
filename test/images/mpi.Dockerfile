# Job image for the docker/cluster tests: sshd + ssh client (from the base),
# Open MPI, Python with mpi4py and numpy.
ARG BASE=srun-docker/base:bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      openmpi-bin libopenmpi-dev python3 python3-mpi4py python3-numpy \
 && mkdir -p /run/sshd && chmod 0755 /run/sshd \
 && rm -f /etc/ssh/ssh_host_* \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["/bin/bash"]
