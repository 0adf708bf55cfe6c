/**
 * What kind of engine answers: Docker or Podman, as root or rootless, with user namespaces remapped
 * or not, and which limits it can apply. Read from its /info alone (one round trip,
 * overlapping the ping); pure here.
 */

export interface EngineFacts {
  kind: 'docker' | 'podman';
  /** The engine runs as the user (rootless Docker or Podman): its root in a container is the user. */
  rootless: boolean;
  /** A root daemon with userns-remap: containers' uids are shifted to subordinate ones. */
  usernsRemap: boolean;
  /** Whether the engine can apply a memory limit, and a cpuset (rootless on cgroup v1 cannot). */
  memoryLimit: boolean;
  cpuset: boolean;
}

/** What a root Docker daemon is assumed to be when it cannot be asked (--dry-run, an /info that failed). */
export const ROOT_DOCKER: EngineFacts = { kind: 'docker', rootless: false, usernsRemap: false, memoryLimit: true, cpuset: true };

/** The fields of GET /info that say so (Docker's and Podman's compatible API alike). */
export interface EngineInfo {
  SecurityOptions?: readonly string[] | null;
  /** Podman's own field (its SecurityOptions say nothing of rootless). */
  Rootless?: boolean;
  MemoryLimit?: boolean;
  CPUSet?: boolean;
  CgroupVersion?: string;
  /** Podman's /info names the Buildah it carries; Docker's has no such field. */
  BuildahVersion?: string;
}

export function engineFacts(info: EngineInfo): EngineFacts {
  const security = (info.SecurityOptions ?? []).flatMap((entry) => entry.split(','));
  const isPodman = info.BuildahVersion !== undefined;
  const rootless = security.includes('name=rootless') || info.Rootless === true;
  // rootless Podman on cgroup v1 reports both limits as supported, then ignores them ("not supported and ignored on cgroups V1 rootless")
  const noCgroups = rootless && info.CgroupVersion === '1';
  return {
    kind: isPodman ? 'podman' : 'docker',
    rootless,
    usernsRemap: security.includes('name=userns'),
    memoryLimit: info.MemoryLimit !== false && !noCgroups,
    cpuset: info.CPUSet !== false && !noCgroups,
  };
}
