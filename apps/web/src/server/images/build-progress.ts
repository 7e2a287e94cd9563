/**
 * A build's progress events (from the agent's builder: step, cache, output, run-failed, push) folded into the
 * document kept on its operation row: one entry per step with its RUN's output, bounded so a chatty RUN
 * cannot grow the row without end.
 */
import type { ProgressFold } from '../operations/service';
import { type BuildProgressDoc, buildProgressSchema } from './build-schemas';

/** Output kept per step (its tail), and how many of the latest steps keep theirs. */
const stepOutputBytes = 16 * 1024;
const stepsWithOutput = 50;
const maxSteps = 1000;

export function buildFold(stored?: unknown): ProgressFold {
  const previous = buildProgressSchema.safeParse(stored);
  const doc: BuildProgressDoc = previous.success
    ? previous.data
    : { kind: 'build', steps: [], failure: null, push: [] };
  return {
    add(updates) {
      for (const u of updates) {
        const current = doc.steps.at(-1);
        switch (u.type) {
          case 'step': {
            if (typeof u.step !== 'number' || typeof u.total !== 'number' || doc.steps.length >= maxSteps)
              break;
            doc.steps.push({
              step: u.step,
              total: u.total,
              instruction: String(u.instruction ?? '').slice(0, 2000),
              cached: null,
              output: '',
              outputTruncated: false,
            });
            const old = doc.steps[doc.steps.length - 1 - stepsWithOutput];
            if (old?.output) {
              old.output = '';
              old.outputTruncated = true;
            }
            break;
          }
          case 'cache':
            if (current && typeof u.hit === 'boolean') current.cached = u.hit;
            break;
          case 'output':
            if (current && typeof u.text === 'string') {
              current.output += u.text;
              if (current.output.length > stepOutputBytes) {
                current.output = current.output.slice(-stepOutputBytes);
                current.outputTruncated = true;
              }
            }
            break;
          case 'run-failed':
            if (typeof u.exitCode === 'number')
              doc.failure = { exitCode: u.exitCode, command: String(u.command ?? '').slice(0, 2000) };
            break;
          case 'push': {
            if (typeof u.tag !== 'string' || typeof u.status !== 'string') break;
            const line = { tag: u.tag.slice(0, 255), status: u.status.slice(0, 300) };
            const at = doc.push.findIndex((p) => p.tag === line.tag);
            if (at === -1) doc.push.push(line);
            else doc.push[at] = line;
            break;
          }
        }
      }
    },
    snapshot: () => doc,
  };
}
