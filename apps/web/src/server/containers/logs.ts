/** Live logs of a container on a team's host, as server-sent events the browser reads with EventSource. */
import { gateway } from '../agents/gateway';
import { db } from '../db';
import { HostNotFoundError } from './actions';
import type { LogsInput } from './schemas';

export async function containerLogStream(
  input: LogsInput,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const host = await db().host.findFirst({ where: { id: input.hostId, teamId: input.teamId } });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const event = (name: string, data: unknown) =>
        controller.enqueue(encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`));
      // A comment first: the response's headers go out now, not with the first line of a quiet container.
      controller.enqueue(encoder.encode(': open\n\n'));
      await gateway()
        .openStream(
          host.id,
          { kind: 'logs', containerId: input.containerId, tail: input.tail, follow: true, timestamps: false },
          {
            onData: (chunk) => event('line', { stream: chunk.stream, text: chunk.data.toString('utf8') }),
            onEnd: (error) => {
              event('end', { error: error ?? null });
              controller.close();
            },
          },
          signal,
        )
        .catch((error: Error) => {
          // Offline, or the instance holding the agent is unreachable: said in the stream, as a late end.
          event('end', { error: error.message });
          controller.close();
        });
    },
  });
}
