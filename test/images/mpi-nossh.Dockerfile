# The MPI image without OpenSSH (like the official and NGC PyTorch images, which ship neither sshd nor
# an ssh client): srun-docker must bring its own ssh. The packages go, Open MPI and mpi4py stay; rsync
# and pdsh come in (a job's `rsync -e ssh`, and pdsh as DeepSpeed's default launcher runs it, then go
# over the built-in ssh).
ARG BASE=srun-docker/mpi:bookworm
FROM ${BASE}
LABEL srun-docker.rev=3
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsync pdsh >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && dpkg --purge --force-depends openssh-server openssh-client openssh-sftp-server \
 && test ! -e /usr/sbin/sshd && test ! -e /usr/bin/ssh && test ! -e /usr/bin/scp && test -x /usr/bin/rsync && test -x /usr/bin/pdsh
