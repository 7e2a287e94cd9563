// The Debian packages that Berth's tests and local agent run for real. One list, used by `npm test` and `npm start`.
import { spawnSync } from 'node:child_process';

export const testPackages = [
  'runc',
  'conmon',
  'netavark',
  'aardvark-dns',
  'containernetworking-plugins',
  'iptables',
  'iproute2',
  'zstd',
  'attr',
  'docker-registry',
  'apache2-utils',
  'busybox-static',
  'skopeo',
  'docker.io',
  'openssh-server',
  // The SSH installer's test logs in as a user without root who becomes root through sudo.
  'sudo',
  // systemd-nspawn: the installer's test boots this machine's systemd as a host's PID 1 to run the agent's unit.
  'systemd-container',
  'chromium',
  // setfacl: lets the embedded PostgreSQL's user through a directory it cannot enter (a checkout under /root).
  'acl',
];

export const runtimePackages = [
  'runc',
  'conmon',
  'netavark',
  'aardvark-dns',
  'iptables',
  'iproute2',
  'zstd',
  'attr',
  'acl',
];

function missing(packages) {
  // dpkg-query's own format placeholders, not JavaScript templates.
  const format = ['-f=$', '{Package} $', '{db:Status-Status}\n'].join('');
  const query = spawnSync('dpkg-query', ['-W', format, ...packages], {
    encoding: 'utf8',
  });
  const installed = new Set(
    (query.stdout ?? '')
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  return packages.filter((name) => !installed.has(name));
}

/** Installs what is missing when root; otherwise prints the one command to run and returns false. */
export function ensureSystemPackages(packages) {
  if (process.platform !== 'linux') {
    console.error('Berth runs on Linux: the engine needs runc, overlayfs and network namespaces.');
    return false;
  }
  const absent = missing(packages);
  if (absent.length === 0) return true;
  const command = `apt-get update && apt-get install -y ${absent.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(`Missing system packages; run as root: ${command}`);
    return false;
  }
  console.info(`Installing system packages: ${absent.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...absent],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(`apt-get ${args[0]} failed (exit ${result.status}); run: ${command}`);
      return false;
    }
  }
  return true;
}
