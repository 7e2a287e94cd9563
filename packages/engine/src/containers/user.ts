/**
 * `User` as Docker reads it: `name`, `uid`, `name:group`, `uid:gid`, resolved against the container's own
 * /etc/passwd and /etc/group; supplementary groups come from /etc/group membership.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || line.startsWith('#')) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: fields[0] ?? '', uid, gid, home: fields[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 4 || line.startsWith('#')) continue;
    const gid = Number(fields[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: fields[0] ?? '', gid, members: (fields[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

const numeric = /^\d+$/;

export function resolveUser(spec: string, passwdText: string, groupText: string): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const [userPart = '', groupPart] = spec.split(':', 2);
  let uid = 0;
  let gid: number | undefined;
  let home = '/';
  let name: string | undefined;
  if (userPart === '') {
    const root = passwd.find((p) => p.uid === 0);
    name = root?.name;
    home = root?.home ?? '/root';
    gid = 0;
  } else if (numeric.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((p) => p.uid === uid);
    name = entry?.name;
    home = entry?.home ?? '/';
    gid = entry?.gid ?? 0;
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new Error(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
    gid = entry.gid;
    home = entry.home;
    name = entry.name;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (numeric.test(groupPart)) gid = Number(groupPart);
    else {
      const group = groups.find((g) => g.name === groupPart);
      if (!group) throw new Error(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = group.gid;
    }
  }
  const additionalGids =
    name === undefined || groupPart
      ? []
      : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid: gid ?? 0, additionalGids, home };
}

export async function resolveUserInRootfs(spec: string, rootfs: string): Promise<ResolvedUser> {
  // The rootfs is the image's: a symlinked etc or passwd could point at the host's files, so none is followed.
  const read = async (path: string) => {
    for (const part of ['etc', path])
      if ((await lstat(join(rootfs, part)).catch(() => undefined))?.isSymbolicLink()) return '';
    return readFile(join(rootfs, path), 'utf8').catch(() => '');
  };
  return resolveUser(spec, await read('etc/passwd'), await read('etc/group'));
}
