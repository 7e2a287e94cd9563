/**
 * `-v`/`Binds`, `--mount`/`Mounts` and image/config `Volumes` resolved into mount points, as dockerd does:
 * a bind source that is an absolute path, a volume source that is a name (created if missing), anonymous
 * volumes for every declared volume path that nothing else covers.
 */
import { posix } from 'node:path';
import type { MountRequest } from './config';
import type { MountPoint } from './record';

const propagations = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
const volumeNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class MountSpecError extends Error {}

function cleanDestination(destination: string): string {
  if (!destination.startsWith('/'))
    throw new MountSpecError(`invalid mount config: mount path must be absolute: "${destination}"`);
  const clean = posix.normalize(destination);
  if (clean === '/') throw new MountSpecError("invalid specification: destination can't be '/'");
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** One `-v` string: `src:dst[:opts]`. */
export function parseBind(spec: string): MountPoint {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1])
    throw new MountSpecError(`invalid volume specification: '${spec}'`);
  const [source, target, optionText = ''] = parts as [string, string, string?];
  const options = optionText ? optionText.split(',') : [];
  let rw = true;
  let propagation = '';
  let noCopy = false;
  for (const option of options) {
    if (option === 'ro') rw = false;
    else if (option === 'rw') rw = true;
    else if (option === 'nocopy') noCopy = true;
    else if (option === 'z' || option === 'Z') continue;
    else if (propagations.includes(option)) propagation = option;
    else throw new MountSpecError(`invalid mode: ${option}`);
  }
  const destination = cleanDestination(target);
  if (source.startsWith('/'))
    return {
      Type: 'bind',
      Source: posix.normalize(source),
      Destination: destination,
      Mode: optionText,
      RW: rw,
      Propagation: propagation || 'rprivate',
    };
  if (!volumeNameRe.test(source))
    throw new MountSpecError(
      `"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  return {
    Type: 'volume',
    Name: source,
    Source: '',
    Destination: destination,
    Driver: 'local',
    Mode: optionText || 'z',
    RW: rw,
    Propagation: '',
    NoCopy: noCopy,
  };
}

export function fromMountRequest(request: MountRequest): MountPoint {
  const destination = cleanDestination(request.Target);
  switch (request.Type) {
    case 'bind':
      if (!request.Source.startsWith('/'))
        throw new MountSpecError(
          `invalid mount config for type "bind": invalid mount path: '${request.Source}' mount path must be absolute`,
        );
      return {
        Type: 'bind',
        Source: posix.normalize(request.Source),
        Destination: destination,
        Mode: '',
        RW: !request.ReadOnly,
        Propagation: request.BindOptions?.Propagation || 'rprivate',
      };
    case 'volume':
      if (request.Source && !volumeNameRe.test(request.Source))
        throw new MountSpecError(
          `invalid mount config for type "volume": invalid volume name "${request.Source}"`,
        );
      return {
        Type: 'volume',
        Name: request.Source || undefined,
        Source: '',
        Destination: destination,
        Driver: 'local',
        Mode: 'z',
        RW: !request.ReadOnly,
        Propagation: '',
        Anonymous: !request.Source,
        NoCopy: request.VolumeOptions?.NoCopy ?? false,
      };
    case 'tmpfs':
      if (request.Source)
        throw new MountSpecError('invalid mount config for type "tmpfs": source must not be specified');
      return {
        Type: 'tmpfs',
        Source: '',
        Destination: destination,
        Mode: '',
        RW: !request.ReadOnly,
        Propagation: '',
        TmpfsOptions: {
          ...(request.TmpfsOptions?.SizeBytes ? { SizeBytes: request.TmpfsOptions.SizeBytes } : {}),
          ...(request.TmpfsOptions?.Mode ? { Mode: request.TmpfsOptions.Mode } : {}),
        },
      };
  }
}

/** Binds, Mounts, then declared volumes not already covered by one of them (those become anonymous). */
export function planMounts(input: {
  binds: string[];
  mounts: MountRequest[];
  tmpfs: Record<string, string>;
  declaredVolumes: string[];
}): MountPoint[] {
  const out: MountPoint[] = [];
  const taken = new Set<string>();
  const add = (mount: MountPoint) => {
    if (taken.has(mount.Destination)) throw new MountSpecError(`Duplicate mount point: ${mount.Destination}`);
    taken.add(mount.Destination);
    out.push(mount);
  };
  for (const bind of input.binds) add(parseBind(bind));
  for (const mount of input.mounts) add(fromMountRequest(mount));
  for (const [target, options] of Object.entries(input.tmpfs))
    add({
      Type: 'tmpfs',
      Source: '',
      Destination: cleanDestination(target),
      Mode: options,
      RW: true,
      Propagation: '',
    });
  for (const declared of input.declaredVolumes) {
    const destination = cleanDestination(declared);
    if (taken.has(destination)) continue;
    taken.add(destination);
    out.push({
      Type: 'volume',
      Source: '',
      Destination: destination,
      Driver: 'local',
      Mode: '',
      RW: true,
      Propagation: '',
      Anonymous: true,
    });
  }
  return out;
}
