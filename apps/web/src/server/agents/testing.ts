/**
 * For integration tests of the agent link: a control-plane instance made of the real gateway, its own bus on
 * the test's PostgreSQL (DATABASE_URL set by teams/testing.ts) and its own WebSocket endpoint on loopback.
 * Loaded lazily so the environment is set before the server modules read it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { InstanceBus } from './bus';
import type { AgentGateway, RelayTimings } from './gateway';

export interface GatewayInstance {
  gateway: AgentGateway;
  bus: InstanceBus;
  url: string;
  port: number;
  /** Stops like a crashed or restarted instance: agents' sockets cut, nothing marked by hand. */
  close(): Promise<void>;
}

export async function startGatewayInstance(
  port = 0,
  options: { relayTimings?: Partial<RelayTimings> } = {},
): Promise<GatewayInstance> {
  const { AgentGateway } = await import('./gateway');
  const { InstanceBus } = await import('./bus');
  const gateway = new AgentGateway(options);
  const bus = await InstanceBus.start({
    databaseUrl: process.env.DATABASE_URL as string,
    onMessage: (message) => gateway.onBusMessage(message),
    onFleetChange: (teamId) => gateway.onBusFleetChange(teamId),
  });
  gateway.attachBus(bus);
  const sockets = new WebSocketServer({ noServer: true });
  const server: Server = createServer();
  server.on('upgrade', (req, socket, head) =>
    sockets.handleUpgrade(req, socket, head, (ws) => gateway.handle(ws, '127.0.0.1')),
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    gateway,
    bus,
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    async close() {
      for (const ws of sockets.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await bus[Symbol.asyncDispose]();
    },
  };
}
