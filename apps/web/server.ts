/**
 * The control plane's HTTP server: Next.js for pages and APIs, plus the agents' WebSocket endpoint
 * (/api/agent/ws), which Next's route handlers cannot serve. Started by `npm start` with PORT and the env the
 * app reads (see src/env.ts).
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import next from 'next';
import { WebSocketServer } from 'ws';
import { env } from './src/env';
import { InstanceBus } from './src/server/agents/bus';
import { fleetEvents } from './src/server/agents/fleet-events';
import { gateway as agentGateway } from './src/server/agents/gateway';
import { authorizeConsole, ConsoleRefusedError, runConsole } from './src/server/containers/console';
import { db } from './src/server/db';
import { log } from './src/server/log';
import { startOperations } from './src/server/operations/service';

const port = Number(process.env.PORT ?? 3000);
const dir = fileURLToPath(new URL('.', import.meta.url));

async function main(): Promise<void> {
  const app = next({ dev: false, dir, port });
  const handle = app.getRequestHandler();
  await app.prepare();
  const gateway = agentGateway();
  // Other instances serving the same fleet reach the agents held here (and this one theirs) through the database.
  const bus = await InstanceBus.start({
    databaseUrl: env().DATABASE_URL,
    onMessage: (message) => gateway.onBusMessage(message),
    onError: (error) => log().error({ err: error.message }, 'instance bus'),
    onFleetChange: (teamId) => gateway.onBusFleetChange(teamId),
  });
  // Open pages of the team refetch at once (server-sent events from /api/fleet/events).
  gateway.onFleetChange((teamId) => fleetEvents().emit('change', teamId));
  gateway.attachBus(bus);
  // Commands an agent has not answered yet are sent again when it is back; past their deadline they time out.
  const stopOperations = startOperations(gateway);
  const agents = new WebSocketServer({ noServer: true, maxPayload: 8 * 1024 * 1024 });
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  const consoles = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://control-plane');
    const ip = req.socket.remoteAddress ?? null;
    if (url.pathname === '/api/agent/ws') {
      agents.handleUpgrade(req, socket, head, (ws) => gateway.handle(ws, ip));
      return;
    }
    if (url.pathname === '/api/containers/console') {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string') headers.set(name, value);
      authorizeConsole(url, headers).then(
        (granted) => consoles.handleUpgrade(req, socket, head, (ws) => void runConsole(ws, granted, ip)),
        (error: Error) => {
          const status = error instanceof ConsoleRefusedError ? error.status : 500;
          socket.end(
            `HTTP/1.1 ${status} ${status === 500 ? 'Error' : 'Refused'}\r\nConnection: close\r\n\r\n`,
          );
        },
      );
      return;
    }
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  log().info({ port, instance: bus.instanceId }, 'control plane listening');
  const stop = async () => {
    // Agents reconnect (to this or another instance); what this instance held is marked offline.
    const hosts = gateway.connected();
    for (const ws of agents.clients) ws.close(1001, 'control plane restarting');
    server.close();
    if (hosts.length)
      await db()
        .host.updateMany({
          where: { id: { in: hosts }, connectedInstance: bus.instanceId },
          data: { online: false, connectedInstance: null },
        })
        .catch(() => {});
    stopOperations();
    await bus[Symbol.asyncDispose]();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((error: unknown) => {
  // The log needs a valid configuration; a start that failed on one says so plainly.
  console.error(`control plane could not start: ${(error as Error).message}`);
  process.exit(1);
});
