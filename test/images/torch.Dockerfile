# CPU-only PyTorch job image for the torchrun example (examples/torchrun-ddp.sh): the mpi image
# plus Debian's python3-torch (1.13, with torch.distributed and the gloo backend).
ARG BASE=srun-docker/mpi:bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-torch \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["/bin/bash"]
