import Docker from 'dockerode';

export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

/** Containers srun-docker made for this user (labelled), running or not. */
export async function containersOf(user: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`srun-docker.user=${user}`] } });
}

export async function removeAllOf(user: string): Promise<void> {
  for (const c of await containersOf(user)) await docker.getContainer(c.Id).remove({ force: true });
}
