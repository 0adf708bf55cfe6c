#!/bin/bash
# Runs inside each cluster container (mounted at /cluster/entrypoint.sh by
# up.sh, started under --init/tini).
#   entrypoint.sh ctl    -> munged + slurmctld (foreground)
#   entrypoint.sh node   -> cgroup set-up, munged, inner dockerd, slurmd (foreground)
# Logs: `docker logs <container>`, /var/log/dockerd.log on nodes.
set -euo pipefail
role="${1:?role ctl|node}"
log() { printf '[entrypoint %s] %s\n' "$(hostname)" "$*" >&2; }

# CLUSTER_HOME=caching: the shared home is at /home-real (up.sh), and this host sees it at /home
# through its own bindfs, which caches lookups (also "no such file") for 30 s and attributes for
# 3 s, like an NFS client with lookupcache=all. Before anything else, so nothing sees an empty /home.
if [ "${CLUSTER_HOME:-plain}" = caching ]; then
  bindfs -o allow_other,entry_timeout=30,negative_timeout=30,attr_timeout=3 /home-real /home
  for _ in $(seq 50); do [ "$(stat -fc %T /home)" = fuseblk ] && break; sleep 0.1; done
  [ "$(stat -fc %T /home)" = fuseblk ] || { log "error: bindfs did not mount /home"; exit 1; }
  log "home: /home-real through bindfs (lookups cached 30 s)"
fi

# Shared munge key (bind-mounted read-only at /cluster/munge.key).
install -o munge -g munge -m 0400 /cluster/munge.key /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
runuser -u munge -- /usr/sbin/munged

# srun-docker on PATH (project checkout is mounted read-only at its own path).
if [ -n "${SRUN_DOCKER_PROJECT:-}" ] && [ -e "$SRUN_DOCKER_PROJECT/bin/srun-docker" ]; then
  ln -sf "$SRUN_DOCKER_PROJECT/bin/srun-docker" /usr/local/bin/srun-docker
fi

mkdir -p /var/spool/slurmd /var/spool/slurmctld /var/log/slurm /run/slurm

if [ "$role" = ctl ]; then
  log "starting slurmctld"
  exec /usr/sbin/slurmctld -D -i
fi

# ---- node: cgroups for the inner Docker engine ------------------------------
mount -o remount,rw /sys 2>/dev/null || log "warning: cannot remount /sys rw"
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  # cgroup v2 (private cgroupns): move every process into a leaf so that
  # controllers can be enabled for the inner engine (the dind recipe).
  mount -t cgroup2 -o rw,nsdelegate cgroup2 /sys/fs/cgroup 2>/dev/null \
    || mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
  mkdir -p /sys/fs/cgroup/init
  for _ in 1 2 3 4 5; do
    xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    [ -s /sys/fs/cgroup/cgroup.procs ] || break
  done
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
    >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || log "warning: cannot enable cgroup v2 controllers"
else
  # cgroup v1: a tmpfs and a fresh mount of every hierarchy this kernel has.
  mount -t tmpfs -o rw,nosuid,nodev,noexec,mode=755 cgroup /sys/fs/cgroup
  while IFS=: read -r id ctrls _; do
    [ "$id" = 0 ] && continue         # the v2 "unified" line
    [ -n "$ctrls" ] || continue
    dir="${ctrls#name=}"
    mkdir -p "/sys/fs/cgroup/$dir"
    mount -t cgroup -o "rw,nosuid,nodev,noexec,$ctrls" cgroup "/sys/fs/cgroup/$dir" \
      || log "warning: cannot mount cgroup $ctrls"
  done </proc/self/cgroup
fi

log "starting inner dockerd"
/usr/sbin/dockerd --storage-driver=overlay2 --bridge=none --iptables=false \
  --ip-masq=false --group docker >/var/log/dockerd.log 2>&1 &

log "starting slurmd"
exec /usr/sbin/slurmd -D
