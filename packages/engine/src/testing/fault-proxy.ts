import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * What to do to one request on its way to the registry. Faults a real registry cannot be made to show:
 * a connection dropped mid-body, a 5xx, bytes changed in flight, a hostile manifest.
 */
export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'corrupt' }
  | { kind: 'redirect'; location: string }
  | { kind: 'body'; status?: number; contentType: string; body: Buffer };

export interface FaultProxy extends AsyncDisposable {
  host: string;
  requests: { method: string; path: string; fault?: Fault['kind'] }[];
  stop(): Promise<void>;
}

/** An HTTP proxy on loopback in front of `target` (host:port) that applies `decide`'s fault per request. */
export async function startFaultProxy(
  target: string,
  decide: (method: string, path: string) => Fault | undefined,
): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':');
  const requests: FaultProxy['requests'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const fault = decide(method, path);
    requests.push({ method, path, ...(fault ? { fault: fault.kind } : {}) });
    if (fault?.kind === 'status') {
      req.resume();
      res
        .writeHead(fault.status, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNKNOWN"}]}');
      return;
    }
    if (fault?.kind === 'redirect') {
      req.resume();
      res.writeHead(307, { location: fault.location }).end();
      return;
    }
    if (fault?.kind === 'body') {
      req.resume();
      const digest = `sha256:${createHash('sha256').update(fault.body).digest('hex')}`;
      res
        .writeHead(fault.status ?? 200, {
          'content-type': fault.contentType,
          'content-length': String(fault.body.length),
          'docker-content-digest': digest,
        })
        .end(fault.body);
      return;
    }
    const upstream = httpRequest(
      { host: targetHost, port: Number(targetPort), method, path, headers: { ...req.headers, host: target } },
      (up) => {
        const headers = { ...up.headers };
        // Redirects and upload locations must come back through the proxy.
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(target, proxyHost);
        res.writeHead(up.statusCode ?? 502, headers);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (fault?.kind === 'cut' && sent + chunk.length > fault.afterBytes) {
            res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - sent)));
            res.socket?.destroy();
            up.destroy();
            return;
          }
          if (fault?.kind === 'corrupt' && sent === 0 && chunk.length > 0) {
            out = Buffer.from(chunk);
            out[0] = (out[0] ?? 0) ^ 0xff;
          }
          sent += chunk.length;
          res.write(out);
        });
        up.on('end', () => res.end());
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxyHost = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { host: proxyHost, requests, stop, [Symbol.asyncDispose]: stop };
}
