/**
 * Recreate a container with its settings, optionally pulling a newer image for the reference it was created
 * from first (Portainer's "Recreate" with "pull latest image", watchtower's update): the old one is stopped and
 * renamed aside, a new one is created under its name from its config and host config (env, command, ports,
 * mounts with named and anonymous volumes reattached, networks with aliases, restart policy, labels, limits),
 * started if the old one was running, and the old one is removed. A failure before the new one runs puts the
 * old one back (name, and running again if it was) and says at which step it failed.
 *
 * What the old container inherited from its image (env, command, labels, exposed ports, working dir, user) is
 * left for the new image to provide, so a newer image's defaults take effect; what was set on the container
 * itself is kept.
 */
import { EngineError, type EngineErrorCode } from '../errors';
import type { ImageContainerConfig } from '../images/oci';
import type { RegistryCredentials } from '../images/registry';
import type { ImageService, PullProgress } from '../images/types';
import type { CreateContainerRequest, HostConfig, MountRequest } from './config';
import type { ContainerInspect, ContainerStore, MountView } from './store';

export const recreateSteps = ['inspect', 'pull', 'stop', 'rename', 'create', 'connect', 'start'] as const;
export type RecreateStep = (typeof recreateSteps)[number];

/** A recreate that failed at `step`; `restored` says whether the old container is as it was before. */
export class RecreateError extends EngineError {
  readonly step: RecreateStep;
  readonly restored: boolean;

  constructor(step: RecreateStep, cause: unknown, restored: boolean, rollbackProblems: string[] = []) {
    const code: EngineErrorCode = EngineError.is(cause) ? cause.code : 'failed';
    const reason = cause instanceof Error ? cause.message : String(cause);
    const outcome = restored
      ? 'the old container was left as it was'
      : `putting the old container back failed too: ${rollbackProblems.join('; ')}`;
    super(code, `recreate failed at ${step}: ${reason} (${outcome})`, { cause });
    this.step = step;
    this.restored = restored;
  }
}

export interface RecreateOptions {
  /** Pull the image reference the container was created from before recreating it. */
  pull: boolean;
  credentials?: RegistryCredentials;
  /** Pull progress per layer, and one status line per step. */
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface RecreateResult {
  Id: string;
  PreviousId: string;
  Name: string;
  Image: string;
  ImageId: string;
  PreviousImageId: string;
  /** Problems that did not undo the recreate (the old container could not be removed). */
  Warnings: string[];
}

interface Deps {
  containers: ContainerStore;
  images: ImageService;
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function sameList(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The image reference as written at create, or undefined when the container was created from an image id. */
function pullableReference(reference: string, imageId: string): string | undefined {
  const bare = reference.replace(/^sha256:/, '');
  if (/^[0-9a-f]{12,64}$/.test(bare) && imageId.replace(/^sha256:/, '').startsWith(bare)) return undefined;
  return reference;
}

/**
 * The create body that makes the same container again. `image` is the old container's image config (its
 * defaults are dropped so the new image's apply); without it everything the old container had is kept.
 */
export function recreateBody(
  old: ContainerInspect,
  image: ImageContainerConfig | undefined,
): {
  body: CreateContainerRequest;
  extraNetworks: Array<{ name: string; aliases: string[]; ipv4?: string }>;
} {
  const config = old.Config;
  const hostConfig = { ...(old.HostConfig as HostConfig) };
  const shortId = old.Id.slice(0, 12);

  const imageEnv = new Set(image?.Env ?? []);
  const imageHasPath = (image?.Env ?? []).some((e) => e.startsWith('PATH='));
  const env = config.Env.filter(
    (entry) => !imageEnv.has(entry) && !(image && !imageHasPath && entry === `PATH=${defaultPath}`),
  );
  const imageLabels = image?.Labels ?? {};
  const labels = Object.fromEntries(
    Object.entries(config.Labels).filter(([k, v]) => !image || imageLabels[k] !== v),
  );
  const imageEntrypoint = image?.Entrypoint ?? null;
  const entrypointFromImage = image !== undefined && sameList(config.Entrypoint, imageEntrypoint);
  const commandFromImage = entrypointFromImage && sameList(config.Cmd, image?.Cmd ?? null);
  const exposed = Object.keys(config.ExposedPorts ?? {}).filter(
    (port) => !image || !(port in (image.ExposedPorts ?? {})),
  );

  // Volumes: binds and named mounts as they were asked for; every volume the container got without a name
  // (declared by the image or `-v /path`) is reattached by its name, so its data stays.
  const named = new Set<string>();
  for (const bind of hostConfig.Binds ?? []) {
    const target = bind.split(':')[1];
    if (target) named.add(target.replace(/\/+$/, '') || '/');
  }
  const mounts: MountRequest[] = [];
  for (const mount of hostConfig.Mounts ?? []) {
    if (mount.Type === 'volume' && !mount.Source) continue;
    mounts.push(mount);
    named.add(mount.Target.replace(/\/+$/, '') || '/');
  }
  for (const mount of old.Mounts as MountView[]) {
    if (mount.Type !== 'volume' || !mount.Name || named.has(mount.Destination)) continue;
    mounts.push({ Type: 'volume', Source: mount.Name, Target: mount.Destination, ReadOnly: !mount.RW });
  }

  // Networks: the first one at create (as `docker run --network`), the others connected before start.
  const networks = ((old.NetworkSettings as { Networks?: Record<string, unknown> } | undefined)?.Networks ??
    {}) as Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null }>;
  // The engine adds the short id (and the name resolves anyway) on user-defined networks: not the user's.
  const aliasesOf = (name: string) =>
    (networks[name]?.Aliases ?? []).filter(
      (a) => a !== shortId && a !== old.Id && a !== old.Name.replace(/^\//, ''),
    );
  const mode = hostConfig.NetworkMode ?? 'bridge';
  const primaryIp = networks[mode]?.IPAMConfig?.IPv4Address;
  const primaryAliases = aliasesOf(mode);
  const extraNetworks = Object.keys(networks)
    .filter((name) => name !== mode)
    .map((name) => {
      const ipv4 = networks[name]?.IPAMConfig?.IPv4Address;
      return { name, aliases: aliasesOf(name), ...(ipv4 ? { ipv4 } : {}) };
    });

  const body: CreateContainerRequest = {
    Image: config.Image,
    ...(config.Hostname && config.Hostname !== shortId ? { Hostname: config.Hostname } : {}),
    ...(config.Domainname ? { Domainname: config.Domainname } : {}),
    ...(config.User && config.User !== (image?.User ?? '') ? { User: config.User } : {}),
    ...(config.WorkingDir && config.WorkingDir !== (image?.WorkingDir ?? '')
      ? { WorkingDir: config.WorkingDir }
      : {}),
    AttachStdin: config.AttachStdin,
    AttachStdout: config.AttachStdout,
    AttachStderr: config.AttachStderr,
    Tty: config.Tty,
    OpenStdin: config.OpenStdin,
    StdinOnce: config.StdinOnce,
    Env: env,
    ...(commandFromImage ? {} : { Cmd: config.Cmd }),
    // A cleared entrypoint (`--entrypoint ""`) stays cleared.
    ...(entrypointFromImage ? {} : { Entrypoint: config.Entrypoint ?? [''] }),
    Labels: labels,
    ...(exposed.length ? { ExposedPorts: Object.fromEntries(exposed.map((p) => [p, {}])) } : {}),
    ...(config.StopSignal && config.StopSignal !== image?.StopSignal
      ? { StopSignal: config.StopSignal }
      : {}),
    ...(config.StopTimeout !== undefined ? { StopTimeout: config.StopTimeout } : {}),
    // The image's own check comes back with the (maybe newer) image; one the container was given stays.
    ...(config.Healthcheck &&
    JSON.stringify(config.Healthcheck) !== JSON.stringify(image?.Healthcheck ?? null)
      ? { Healthcheck: config.Healthcheck }
      : {}),
    HostConfig: { ...hostConfig, Mounts: mounts, NetworkMode: mode },
    ...(mode === 'host' || mode === 'none'
      ? {}
      : {
          NetworkingConfig: {
            EndpointsConfig: {
              [mode]: {
                Aliases: primaryAliases.length ? primaryAliases : null,
                ...(primaryIp ? { IPAMConfig: { IPv4Address: primaryIp } } : {}),
              },
            },
          },
        }),
  };
  return { body, extraNetworks };
}

export async function recreateContainer(
  deps: Deps,
  idOrName: string,
  options: RecreateOptions,
): Promise<RecreateResult> {
  const { containers, images } = deps;
  const say = (status: string) => options.onProgress?.({ status });
  let old: ContainerInspect;
  try {
    old = containers.inspect(idOrName);
  } catch (error) {
    throw new RecreateError('inspect', error, true);
  }
  const name = old.Name.replace(/^\//, '');
  const previousImageId = String(old.Image);
  const wasRunning = old.State.Running || old.State.Restarting;
  const reference = old.Config.Image;

  try {
    if ((old.HostConfig as HostConfig | undefined)?.AutoRemove)
      throw new EngineError(
        'invalid_argument',
        'a container started with --rm (AutoRemove) is removed when it stops, so it cannot be recreated',
      );
    if (options.pull) {
      const pullable = pullableReference(reference, previousImageId);
      if (!pullable)
        throw new EngineError(
          'invalid_argument',
          `the container was created from image id ${reference}, which has no tag to pull`,
        );
      say(`Pulling ${pullable}`);
      await images.pull(pullable, {
        ...(options.credentials ? { credentials: options.credentials } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
  } catch (error) {
    throw new RecreateError('pull', error, true);
  }

  // The old image's defaults, when it is still here (it is, while the old container uses it).
  const oldImage = await images.get(previousImageId).then(
    (i) => i.config,
    () => undefined,
  );
  const { body, extraNetworks } = recreateBody(old, oldImage);

  let step: RecreateStep = 'stop';
  let renamed = false;
  let newId: string | undefined;
  const aside = `${name}-berth-old-${old.Id.slice(0, 12)}`;
  try {
    if (wasRunning) {
      say('Stopping the old container');
      const timeout = old.Config.StopTimeout;
      await containers.stop(old.Id, timeout !== undefined ? { timeout } : {}).catch((error: unknown) => {
        if (!EngineError.is(error, 'not_modified')) throw error;
      });
    }
    step = 'rename';
    await containers.rename(old.Id, aside);
    renamed = true;
    step = 'create';
    say('Creating the new container');
    newId = (await containers.create(body, { name })).Id;
    step = 'connect';
    for (const network of extraNetworks)
      await containers.connectNetwork(newId, network.name, {
        aliases: network.aliases,
        ...(network.ipv4 ? { ipv4Address: network.ipv4 } : {}),
      });
    step = 'start';
    if (wasRunning) {
      say('Starting the new container');
      await containers.start(newId);
    }
  } catch (error) {
    say('Putting the old container back');
    const problems: string[] = [];
    if (newId)
      await containers
        .remove(newId, { force: true, volumes: true })
        .catch((e: Error) => problems.push(`removing the new container: ${e.message}`));
    if (renamed)
      await containers
        .rename(old.Id, name)
        .catch((e: Error) => problems.push(`renaming the old container back: ${e.message}`));
    if (wasRunning && !containers.inspect(old.Id).State.Running)
      await containers
        .start(old.Id)
        .catch((e: Error) => problems.push(`starting the old container: ${e.message}`));
    throw new RecreateError(step, error, problems.length === 0, problems);
  }

  const warnings: string[] = [];
  say('Removing the old container');
  // Its anonymous volumes stay: the new container uses them now.
  await containers.remove(old.Id, { force: true }).catch((error: Error) => {
    warnings.push(
      `the old container ${old.Id.slice(0, 12)} (${aside}) could not be removed: ${error.message}`,
    );
  });
  const created = containers.inspect(newId);
  return {
    Id: newId,
    PreviousId: old.Id,
    Name: name,
    Image: reference,
    ImageId: String(created.Image),
    PreviousImageId: previousImageId,
    Warnings: warnings,
  };
}
