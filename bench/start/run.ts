/**
 * Container start benchmark, one run, four contenders on the same busybox rootfs:
 *   - Berth's engine: create, start, wait, remove of `true` (network none), in process;
 *   - raw runc: `runc run` of a prepared bundle with `runc spec`'s defaults (the floor: no monitor, no overlay,
 *     no bookkeeping);
 *   - raw runc with Berth's spec: `runc run` of the very config.json Berth wrote for a `true` container (its
 *     overlay on /, seccomp filter, masked paths, /sys/fs/cgroup): the runtime's share of Berth's time, so the
 *     rest is the engine's own (monitor, bookkeeping, exit handling);
 *   - dockerd 20.10: `docker run --rm --network none busybox true` through its socket.
 * Prints medians and the ratios Berth/runc, Berth/runc with Berth's spec, and dockerd/Berth.
 *
 * With `--network bridge` (or `both`, the default) Berth and dockerd also run `true` on their default bridge
 * network (dockerd on a test bridge `bt-benchbr0` it is given, without iptables).
 *
 *   npx tsx bench/start/run.ts [--rounds 20] [--only berth,runc,dockerd] [--network none|bridge|both]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startReferenceDockerd } from '@berth/agent/docker-api/reference';
import { runDocker } from '@berth/agent/docker-api/testing';
import { Engine } from '@berth/engine';
import { busyboxEntries, loadBusybox, pushBusybox, tarBytes } from '@berth/engine/testing/images';
import { testNetworkOptions } from '@berth/engine/testing/network';
import { startRegistry } from '@berth/engine/testing/registry';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    only: { type: 'string' },
    network: { type: 'string', default: 'both' },
  },
});
const rounds = Number(values.rounds);
const only = new Set((values.only ?? 'berth,runc,dockerd').split(','));
const modes = values.network === 'both' ? ['none', 'bridge'] : [values.network ?? 'none'];

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function run(file: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd }, (error, _stdout, stderr) =>
      error ? reject(new Error(`${file}: ${stderr || error.message}`)) : resolve(),
    );
  });
}

async function time(task: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await task();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function sample(name: string, task: () => Promise<void>): Promise<number | undefined> {
  try {
    await task(); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) samples.push(await time(task));
    const m = median(samples);
    console.info(
      `${name.padEnd(8)} median ${m.toFixed(1)} ms  (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`,
    );
    return m;
  } catch (error) {
    console.info(`${name} could not finish: ${(error as Error).message}`);
    return undefined;
  }
}

const work = await mkdtemp('/tmp/bt-bench-start-');
const results: Record<string, number | undefined> = {};
try {
  if (only.has('berth')) {
    await using engine = await Engine.open({ dataRoot: join(work, 'berth'), ...testNetworkOptions() });
    await loadBusybox(engine);
    for (const mode of modes)
      results[`berth-${mode}`] = await sample(`berth (${mode})`, async () => {
        const { Id } = await engine.containers.create({
          Image: 'busybox',
          Cmd: ['true'],
          HostConfig: { NetworkMode: mode },
        });
        await engine.containers.start(Id);
        const { StatusCode } = await engine.containers.wait(Id);
        if (StatusCode !== 0) throw new Error(`exit ${StatusCode}`);
        await engine.containers.remove(Id);
      });
    if (only.has('runc')) {
      // A `true` container run once and left stopped: its config.json, overlay dirs and files stay for runc.
      const { Id } = await engine.containers.create({
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: { NetworkMode: 'none' },
      });
      await engine.containers.start(Id);
      await engine.containers.wait(Id);
      const containerDir = join(work, 'berth', 'containers', Id);
      const spec = JSON.parse(await readFile(join(containerDir, 'config.json'), 'utf8'));
      spec.linux.cgroupsPath = '/berth/bt-bench-spec';
      const bundle = join(work, 'berth-spec-bundle');
      await mkdir(bundle);
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      const root = join(work, 'runc-spec-root');
      let n = 0;
      results['runc-berth-spec'] = await sample('runc+spec', () =>
        run('runc', ['--root', root, 'run', '--bundle', bundle, `bt-bench-spec-${n++}`]),
      );
      await engine.containers.remove(Id);
    }
  }
  if (only.has('runc')) {
    // The same rootfs, unpacked once; `runc spec` defaults plus a private network namespace.
    const bundle = join(work, 'runc-bundle');
    const rootfs = join(bundle, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    await writeFile(join(work, 'rootfs.tar'), await tarBytes(await busyboxEntries()));
    await run('tar', ['-xf', join(work, 'rootfs.tar'), '-C', rootfs]);
    await run('runc', ['spec'], bundle);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['true'];
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const root = join(work, 'runc-root');
    let n = 0;
    results.runc = await sample('runc', () =>
      run('runc', ['--root', root, 'run', '--bundle', bundle, `bt-bench-${n++}`]),
    );
  }
  if (only.has('dockerd')) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry, 'bt-bench/busybox:1');
    const bridge = 'bt-benchbr0';
    if (modes.includes('bridge')) {
      await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
      await run('ip', ['addr', 'add', '10.249.0.1/24', 'dev', bridge]);
      await run('ip', ['link', 'set', bridge, 'up']);
    }
    try {
      await using dockerd = await startReferenceDockerd(modes.includes('bridge') ? { bridge } : {});
      const config = join(work, 'docker-config');
      const docker = async (args: string[]) => {
        const r = await runDocker(dockerd.host, config, args);
        if (r.code !== 0) throw new Error(`docker ${args[0]}: ${r.stderr.trim()}`);
      };
      await docker(['pull', '-q', image]);
      for (const mode of modes)
        results[`dockerd-${mode}`] = await sample(`dockerd (${mode})`, () =>
          docker(['run', '--rm', '--network', mode, image, 'true']),
        );
    } finally {
      if (modes.includes('bridge')) await run('ip', ['link', 'del', bridge]).catch(() => {});
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
console.info(`\nrounds=${rounds} (medians of create+start+wait+remove of \`true\`)`);
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : 'n/a');
if (results['berth-none'] && results.runc)
  console.info(`berth(none) / runc      ${ratio(results['berth-none'], results.runc)}  (target <= 2x)`);
if (results['berth-none'] && results['runc-berth-spec'])
  console.info(
    `berth(none) / runc with Berth's spec ${ratio(results['berth-none'], results['runc-berth-spec'])}  (the engine's own share)`,
  );
for (const mode of modes)
  console.info(
    `dockerd / berth (${mode.padEnd(6)}) ${ratio(results[`dockerd-${mode}`], results[`berth-${mode}`])}  (>1 means Berth is faster; target >= 3x with the bridge)`,
  );
