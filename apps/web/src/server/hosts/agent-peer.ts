/**
 * For integration tests: the real agent gateway on a WebSocket server of its own, and a peer that speaks the
 * agent protocol (hello, signed challenge, inventory, deltas) with a real Ed25519 key, as an agent would.
 */
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AgentFrame,
  challengePayload,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@berth/agent/protocol/messages';
import { WebSocket, WebSocketServer } from 'ws';

export async function startGatewayServer() {
  const { gateway } = await import('../agents/gateway');
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => gateway().handle(ws, '127.0.0.1')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/agent/ws`,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export function agentKeys(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
}

export class AgentPeer {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: Array<() => void> = [];
  readonly #ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (raw: Buffer) => {
      this.frames.push(JSON.parse(raw.toString()) as ServerFrame);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.#waiters.splice(0)) w();
      }),
    );
  }

  static async open(url: string): Promise<AgentPeer> {
    const ws = new WebSocket(url);
    const peer = new AgentPeer(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return peer;
  }

  send(frame: AgentFrame): void {
    this.#ws.send(JSON.stringify(frame));
  }

  /** The next frame of a type (frames of other types stay queued); throws when the socket closes first. */
  async next<T extends ServerFrame['type']>(type: T): Promise<Extract<ServerFrame, { type: T }>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const at = this.frames.findIndex((f) => f.type === type);
      if (at >= 0) return this.frames.splice(at, 1)[0] as Extract<ServerFrame, { type: T }>;
      if (this.#ws.readyState >= WebSocket.CLOSING) throw new Error(`closed before a ${type} frame`);
      if (Date.now() > deadline) throw new Error(`no ${type} frame in time`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /**
   * hello → challenge → auth; resolves with the frame that answered (welcome or refused). `protocolVersion`
   * lets a test be an older agent.
   */
  async authenticate(
    hostId: string,
    privateKey: KeyObject,
    protocolVersion = PROTOCOL_VERSION,
  ): Promise<ServerFrame> {
    this.send({ type: 'hello', protocolVersion, agentVersion: 'bt', hostId });
    for (;;) {
      const frame = await this.#any();
      if (frame.type === 'refused' || frame.type === 'welcome') return frame;
      if (frame.type === 'challenge')
        this.send({
          type: 'auth',
          signature: sign(null, challengePayload(frame.nonce, hostId, protocolVersion), privateKey).toString(
            'base64',
          ),
        });
    }
  }

  async #any(): Promise<ServerFrame> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      if (this.#ws.readyState >= WebSocket.CLOSING) throw new Error('closed');
      if (Date.now() > deadline) throw new Error('no frame in time');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  close(): void {
    this.#ws.close();
  }
}
