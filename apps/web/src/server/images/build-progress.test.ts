import { describe, expect, it } from 'vitest';
import { buildFold } from './build-progress';

describe('a build progress fold', () => {
  it('keeps steps with their cache hit, RUN output, the failing exit code and push status', () => {
    const fold = buildFold();
    fold.add([
      { id: 'build-0', type: 'step', step: 1, total: 2, instruction: 'FROM busybox' },
      { id: 'build-1', type: 'step', step: 2, total: 2, instruction: 'RUN make' },
      { id: 'build-2', type: 'cache', hit: false },
      { id: 'build-3', type: 'output', text: 'compiling\n' },
      { id: 'build-4', type: 'output', text: 'error: nope\n' },
      { id: 'build-5', type: 'run-failed', exitCode: 2, command: '/bin/sh -c make' },
      { id: 'build-6', type: 'push', tag: 'r/app:1', status: 'Pushing', layer: 'abc' },
      { id: 'build-7', type: 'push', tag: 'r/app:1', status: '1: digest: sha256:x size: 1' },
    ]);
    expect(fold.snapshot()).toEqual({
      kind: 'build',
      steps: [
        { step: 1, total: 2, instruction: 'FROM busybox', cached: null, output: '', outputTruncated: false },
        {
          step: 2,
          total: 2,
          instruction: 'RUN make',
          cached: false,
          output: 'compiling\nerror: nope\n',
          outputTruncated: false,
        },
      ],
      failure: { exitCode: 2, command: '/bin/sh -c make' },
      push: [{ tag: 'r/app:1', status: '1: digest: sha256:x size: 1' }],
    });
  });

  it('bounds what a chatty build keeps, and goes on from a stored document', () => {
    const fold = buildFold();
    fold.add([{ type: 'step', step: 1, total: 80, instruction: 'RUN yes' }]);
    for (let i = 0; i < 100; i++)
      fold.add([{ type: 'output', text: `${String(i).padStart(3, '0')}${'y'.repeat(997)}` }]);
    const first = (fold.snapshot() as { steps: Array<{ output: string; outputTruncated: boolean }> })
      .steps[0];
    expect(first?.output.length).toBe(16 * 1024);
    expect(first?.output.endsWith('y'.repeat(997))).toBe(true);
    expect(first?.outputTruncated).toBe(true);
    // Only the latest 50 steps keep their output.
    for (let step = 2; step <= 52; step++)
      fold.add([{ type: 'step', step, total: 80, instruction: 'RUN true' }]);
    const again = buildFold(JSON.parse(JSON.stringify(fold.snapshot())));
    again.add([{ type: 'step', step: 53, total: 80, instruction: 'RUN last' }]);
    const doc = again.snapshot() as {
      steps: Array<{ step: number; output: string; outputTruncated: boolean }>;
    };
    expect(doc.steps).toHaveLength(53);
    expect(doc.steps[0]).toMatchObject({ output: '', outputTruncated: true });
    // Malformed events change nothing.
    again.add([{ type: 'step', step: 'x' }, { type: 'output', text: 5 }, { type: 'unknown' }]);
    expect((again.snapshot() as { steps: unknown[] }).steps).toHaveLength(53);
  });
});
