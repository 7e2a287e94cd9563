/**
 * Clients of conmon's attach socket (`<bundle>/attach` with `--full-attach`), the way podman talks to it: a
 * SOCK_SEQPACKET socket, which Node's `net` cannot open, hence node-unix-socket. Packets from conmon carry one
 * byte naming the stream (2 stdout, 3 stderr) and then the data; packets to conmon are raw stdin bytes, and a
 * half-close tells conmon this client's input ended (it then closes the container's stdin unless it was told
 * `--leave-stdin-open`).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { SeqpacketSocket } from 'node-unix-socket';
import { EngineError } from '../errors';

// conmon reads at most CONN_SOCK_BUF_SIZE - 1 (32767) bytes of one packet; stay well under it.
const maxPacketBytes = 16 * 1024;

const streamByte = { stdout: 2, stderr: 3 } as const;

/**
 * Connects to `<dir>/attach`. The address goes through `/proc/self/fd/<dir fd>/` (as conmon binds it), so a
 * deep data root cannot push it past the 107 bytes a unix socket address holds.
 */
export async function connectAttachSocket(dir: string): Promise<SeqpacketSocket> {
  let dirFd: number;
  try {
    dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    throw new EngineError('failed', `attach socket in ${dir}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return await new Promise<SeqpacketSocket>((resolve, reject) => {
      const socket = new SeqpacketSocket();
      const fail = (error: Error) =>
        reject(new EngineError('failed', `attach socket in ${dir}: ${error.message}`, { cause: error }));
      socket.once('error', fail);
      try {
        socket.connect(`/proc/self/fd/${dirFd}/attach`, () => {
          socket.off('error', fail);
          resolve(socket);
        });
      } catch (error) {
        fail(error as Error);
      }
    });
  } finally {
    closeSync(dirFd);
  }
}

/**
 * A Writable feeding a container's stdin through conmon. The socket may come later than the writer (`docker
 * run -i` attaches before the container, and so conmon, exists); writes wait for it. Ending the writer
 * half-closes the socket.
 */
const endOfInputDelayMs = 50;

export function attachStdinWriter(socket: Promise<SeqpacketSocket>): Writable {
  let connected: SeqpacketSocket | undefined;
  let destroyed = false;
  let closed = false;
  socket.then(
    (s) => {
      connected = s;
      s.once('close', () => {
        closed = true;
      });
      // Given up before the container started: the late connection has nobody to serve.
      if (destroyed) s.destroy();
    },
    () => {},
  );
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      socket.then((s) => writePackets(s, chunk, callback), callback);
    },
    final(callback) {
      // The end of input goes a moment after the last data: Debian's conmon 2.1.6 sometimes never closes the
      // container's stdin for a half-close that arrives right behind the data (the process got the data and
      // waited on; `docker run -i … < file` hung). Under CPU load that lost 16–46 ends in 100–150 tries; with
      // the end sent 10 to 100 ms later, none in 80–120.
      socket.then(
        (s) =>
          setTimeout(() => {
            // Meanwhile the session may have ended (the process exited, the client went): nothing left to end.
            if (destroyed || closed) return callback();
            try {
              s.end(() => callback());
            } catch {
              callback();
            }
          }, endOfInputDelayMs),
        () => callback(),
      );
    },
    destroy(error, callback) {
      destroyed = true;
      connected?.destroy();
      callback(error);
    },
  });
}

function writePackets(socket: SeqpacketSocket, chunk: Buffer, callback: (error?: Error) => void): void {
  try {
    for (let offset = 0; offset < chunk.length; offset += maxPacketBytes) {
      const end = Math.min(chunk.length, offset + maxPacketBytes);
      // Only the last packet's completion matters: packets are sent in order.
      socket.write(chunk, offset, end - offset, end === chunk.length ? () => callback() : undefined);
    }
    if (chunk.length === 0) callback();
  } catch (error) {
    callback(error as Error);
  }
}

/** The output side of an attach connection, split back into stdout and stderr. Both end with the socket. */
export function attachOutputStreams(socket: SeqpacketSocket): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  socket.on('data', (packet: Buffer) => {
    if (packet.length < 2) return;
    const data = packet.subarray(1);
    if (packet[0] === streamByte.stderr) stderr.write(data);
    else if (packet[0] === streamByte.stdout) stdout.write(data);
  });
  const finish = () => {
    stdout.end();
    stderr.end();
  };
  socket.once('end', finish);
  socket.once('close', finish);
  socket.on('error', finish);
  return { stdout, stderr };
}
