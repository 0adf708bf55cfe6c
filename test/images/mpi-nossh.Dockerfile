# The MPI image without OpenSSH (like the official and NGC PyTorch images, which ship neither sshd nor
# an ssh client): srun-docker must bring its own ssh. The packages go, Open MPI and mpi4py stay.
ARG BASE=srun-docker/mpi:bookworm
FROM ${BASE}
RUN dpkg --purge --force-depends openssh-server openssh-client openssh-sftp-server \
 && test ! -e /usr/sbin/sshd && test ! -e /usr/bin/ssh && test ! -e /usr/bin/scp
