import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '@berth/engine';
import { loadBusybox, testNetworkOptions } from '@berth/engine/testing/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineBackend } from './backend';
import type { StreamSink } from './client';

describe('link backend with a real engine', () => {
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-backend-'));
    engine = await Engine.open({ dataRoot: root, ...testNetworkOptions() });
    await loadBusybox(engine);
  });
  afterAll(async () => {
    for (const c of engine?.containers.list({ all: true }) ?? [])
      await engine.containers.remove(c.Id, { force: true }).catch(() => {});
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("sends a healthcheck's status changes to the control plane, not its probes' exec events", async () => {
    const abort = new AbortController();
    const seen: Array<{ action: string; status?: string }> = [];
    const reading = (async () => {
      for await (const delta of engineBackend(engine).deltas(abort.signal))
        seen.push({
          action: delta.event.Action,
          ...(delta.container ? { status: delta.container.status } : {}),
        });
    })();
    try {
      const { Id } = await engine.containers.create({
        Image: 'busybox',
        Cmd: ['sleep', '1000'],
        Healthcheck: { Test: ['CMD', 'true'], Interval: 100e6 },
        HostConfig: { NetworkMode: 'none' },
      });
      await engine.containers.start(Id);
      await expect
        .poll(() => seen.find((s) => s.action === 'health_status: healthy')?.status, { timeout: 5000 })
        .toMatch(/^Up .* \(healthy\)$/);
      // A user's exec is still reported; a few more probes are not.
      const exec = engine.containers.execCreate(Id, { Cmd: ['true'] });
      const session = await engine.containers.execStart(exec.Id);
      session.stdout.resume();
      session.stderr.resume();
      await session.exit;
      await new Promise((r) => setTimeout(r, 500));
      const execs = seen.filter((s) => s.action.startsWith('exec_')).map((s) => s.action);
      expect(execs).toEqual(['exec_create: true', 'exec_start: true', 'exec_die']);
      expect((await engine.containers.inspect(Id)).State.Health?.Log.length).toBeGreaterThan(3);
      await engine.containers.remove(Id, { force: true });
    } finally {
      abort.abort();
      await reading;
    }
  });

  it('a console closed just before its container is removed (or recreated) leaves the agent up when the SIGKILL is due', async () => {
    const { Id } = await engine.containers.create({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    await engine.containers.start(Id);
    const output: string[] = [];
    const sink: StreamSink = {
      write: async (chunk) => {
        output.push(chunk.data.toString());
      },
    };
    const closed = new AbortController();
    const streaming = engineBackend(engine)
      .openStream(
        // A shell that ignores the hang-up, so the SIGKILL two seconds later is due.
        {
          kind: 'exec',
          containerId: Id,
          cmd: ['sh', '-c', "trap '' HUP; echo ready; sleep 1000"],
          tty: false,
        },
        sink,
        closed.signal,
        { onInput: () => {}, onResize: () => {} },
      )
      .catch((error: Error) => error);
    await expect.poll(() => output.join(''), { timeout: 10_000 }).toContain('ready');
    // The browser closes the console, then the container is recreated (removed) before the SIGKILL is due.
    closed.abort();
    await engine.containers.remove(Id, { force: true });
    await streaming;
    await new Promise((r) => setTimeout(r, 2500));
    // Reaching here means no uncaught exception ended the process (vitest fails a run that has one).
    expect(engine.containers.list({ all: true }).some((c) => c.Id === Id)).toBe(false);
  });
});
