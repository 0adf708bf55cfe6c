/**
 * What kind of engine answers: Docker or Podman, as root or rootless, with user namespaces remapped
 * or not, and which limits it can apply. Read from its /info and /version; pure here.
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

/** The fields of GET /info and GET /version that say so (Docker's and Podman's compatible API alike). */
export interface EngineInfo {
  SecurityOptions?: readonly string[] | null;
  MemoryLimit?: boolean;
  CPUSet?: boolean;
}
export interface EngineVersion {
  Components?: readonly { Name?: string }[] | null;
}

export function engineFacts(info: EngineInfo, version: EngineVersion): EngineFacts {
  const security = (info.SecurityOptions ?? []).flatMap((entry) => entry.split(','));
  const isPodman = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
  return {
    kind: isPodman ? 'podman' : 'docker',
    rootless: security.includes('name=rootless'),
    usernsRemap: security.includes('name=userns'),
    memoryLimit: info.MemoryLimit !== false,
    cpuset: info.CPUSet !== false,
  };
}
