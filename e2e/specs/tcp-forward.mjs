// Forwards TCP from LISTEN_HOST:LISTEN_PORT to TARGET_HOST:TARGET_PORT; prints "listening" once bound. Run
// inside a network namespace (`nsenter --net=… node tcp-forward.mjs …`) it makes a host service reachable at the
// namespace's own loopback address, which the agents there treat as a plain-HTTP registry, as Docker does.
import { connect, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: tcp-forward.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(Number(targetPort), targetHost);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
