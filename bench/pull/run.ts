/**
 * Pull benchmark: a 5-layer image of 5×40 MB incompressible data from a loopback registry, pulled and unpacked
 * by Berth (fresh data root each round) and by the reference dockerd (own socket, data root, exec root;
 * `docker rmi` between rounds). Prints both medians and the ratio.
 *
 *   npx tsx bench/pull/run.ts [--rounds 5] [--layers 5] [--mb 40] [--no-docker]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '@berth/engine';
import { buildRandomImage, pushImage } from '@berth/engine/testing/images';
import { startRegistry } from '@berth/engine/testing/registry';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    layers: { type: 'string', default: '5' },
    mb: { type: 'string', default: '40' },
    'no-docker': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const layers = Number(values.layers);
const layerBytes = Number(values.mb) * 1024 * 1024;

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')}: exit ${code}: ${stderr}`)),
    );
  });
}

async function startDockerd(
  dir: string,
): Promise<{ socket: string; child: ChildProcess; stop: () => Promise<void> }> {
  const socket = join(dir, 'docker.sock');
  const child = spawn(
    'dockerd',
    [
      '--host',
      `unix://${socket}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  child.on('error', () => {});
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await run('docker', ['-H', `unix://${socket}`, 'version']);
      break;
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { socket, child, stop };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bt-img-bench-'));
  await using registry = await startRegistry();
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    console.info(`building ${layers}×${values.mb} MB random image…`);
    const image = await buildRandomImage(work, layers, layerBytes);
    const reference = `${registry.host}/bt-img/bench:1`;
    await pushImage(reference, image);

    const berth: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const root = await mkdtemp(join(tmpdir(), 'bt-img-bench-root-'));
      try {
        await using engine = await Engine.open({ dataRoot: root });
        const start = performance.now();
        await engine.images.pull(reference);
        berth.push(performance.now() - start);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
      console.info(`berth  round ${i + 1}: ${(berth.at(-1) as number).toFixed(0)} ms`);
    }

    const docker: number[] = [];
    if (!values['no-docker']) {
      dockerd = await startDockerd(join(work, 'dockerd'));
      const host = `unix://${dockerd.socket}`;
      for (let i = 0; i < rounds; i++) {
        const start = performance.now();
        await run('docker', ['-H', host, 'pull', '-q', reference]);
        docker.push(performance.now() - start);
        await run('docker', ['-H', host, 'rmi', reference]);
        console.info(`docker round ${i + 1}: ${(docker.at(-1) as number).toFixed(0)} ms`);
      }
    }

    const b = median(berth);
    console.info(`\nberth pull+unpack median: ${b.toFixed(0)} ms over ${rounds} rounds`);
    if (docker.length) {
      const d = median(docker);
      console.info(`dockerd pull median:      ${d.toFixed(0)} ms over ${rounds} rounds`);
      console.info(`ratio berth/dockerd:      ${(b / d).toFixed(2)}`);
    }
  } finally {
    await dockerd?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
