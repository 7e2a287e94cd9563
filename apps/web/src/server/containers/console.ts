/**
 * The exec console: a shell in a running container, in the browser. The browser opens a WebSocket to
 * /api/containers/console (same origin only, a signed-in operator of the host's team); keystrokes and
 * terminal sizes go to the host's agent inside one exec stream (with a TTY), and the terminal's output comes
 * back as binary frames. Closing the page closes the stream, which hangs the shell up on the host.
 */
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { gateway, type StreamHandle } from '../agents/gateway';
import { recordAudit } from '../audit';
import { sessionFrom } from '../auth';
import { db } from '../db';
import { parseJsonOrUndefined } from '../json';
import { roleIn } from '../teams/membership';
import { hasRole } from '../teams/roles';

export const consoleQuery = z.object({
  teamId: z.uuid(),
  hostId: z.uuid(),
  containerId: z.string().regex(/^[a-f0-9]{64}$/, 'a full container id'),
  rows: z.coerce.number().int().min(1).max(1000).default(24),
  cols: z.coerce.number().int().min(1).max(1000).default(80),
});
export type ConsoleQuery = z.infer<typeof consoleQuery>;

const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('input'), data: z.string().max(65_536) }),
  z.object({
    type: z.literal('resize'),
    rows: z.number().int().min(1).max(1000),
    cols: z.number().int().min(1).max(1000),
  }),
]);

/** What the server tells the browser besides the terminal's bytes (which travel as binary frames). */
export type ConsoleNotice = { type: 'exit'; code: number | null } | { type: 'error'; message: string };

export class ConsoleRefusedError extends Error {
  override readonly name = 'ConsoleRefusedError';
  constructor(
    readonly status: 400 | 401 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decides whether an upgrade request may open a console, before the WebSocket exists: a cross-site page
 * cannot (its Origin differs), nor a caller without a session, nor one below operator in the team.
 */
export async function authorizeConsole(
  url: URL,
  headers: Headers,
): Promise<{ input: ConsoleQuery; userId: string; hostName: string }> {
  const origin = headers.get('origin');
  if (!origin || new URL(origin).host !== headers.get('host'))
    throw new ConsoleRefusedError(403, 'consoles open from this site only');
  const parsed = consoleQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) throw new ConsoleRefusedError(400, parsed.error.issues[0]?.message ?? 'bad request');
  const session = await sessionFrom(headers);
  if (!session) throw new ConsoleRefusedError(401, 'sign in first');
  const role = await roleIn(session.user.id, parsed.data.teamId);
  if (!role) throw new ConsoleRefusedError(404, 'no such team');
  if (!hasRole(role, 'operator')) throw new ConsoleRefusedError(403, 'consoles are for operators and above');
  const host = await db().host.findFirst({
    where: { id: parsed.data.hostId, teamId: parsed.data.teamId, revokedAt: null },
  });
  if (!host) throw new ConsoleRefusedError(404, 'no such host in this team');
  return { input: parsed.data, userId: session.user.id, hostName: host.name };
}

/** Runs an authorized console on an open WebSocket until either side ends it. */
export async function runConsole(
  socket: WebSocket,
  granted: { input: ConsoleQuery; userId: string; hostName: string },
  ip: string | null,
): Promise<void> {
  const { input } = granted;
  const notice = (message: ConsoleNotice) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const closed = new AbortController();
  socket.on('close', () => closed.abort());
  socket.on('error', () => closed.abort());
  await recordAudit({
    action: 'container.exec',
    userId: granted.userId,
    teamId: input.teamId,
    target: `${input.hostId}/${input.containerId}`,
    ip,
    detail: { host: granted.hostName, cmd: 'sh' },
  });
  let handle: StreamHandle | undefined;
  // Keys typed before the agent's stream exists wait for it, in order.
  const early: Array<z.infer<typeof clientMessage>> = [];
  const deliver = (message: z.infer<typeof clientMessage>) => {
    if (!handle) early.push(message);
    else if (message.type === 'input') handle.input(Buffer.from(message.data, 'utf8'));
    else handle.resize(message.rows, message.cols);
  };
  socket.on('message', (raw, isBinary) => {
    if (isBinary) return;
    const parsed = clientMessage.safeParse(parseJsonOrUndefined(raw.toString()));
    if (parsed.success) deliver(parsed.data);
  });
  try {
    handle = await gateway().openStream(
      input.hostId,
      {
        kind: 'exec',
        containerId: input.containerId,
        cmd: ['sh'],
        tty: true,
        rows: input.rows,
        cols: input.cols,
      },
      {
        onData: (chunk) => {
          if (socket.readyState === socket.OPEN) socket.send(chunk.data, { binary: true });
        },
        onEnd: (error) => {
          if (error) notice({ type: 'error', message: error });
          else notice({ type: 'exit', code: null });
          socket.close(1000);
        },
      },
      closed.signal,
    );
    for (const message of early.splice(0)) deliver(message);
  } catch (error) {
    notice({ type: 'error', message: (error as Error).message });
    socket.close(1011);
  }
}
