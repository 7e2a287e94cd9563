/**
 * One SSH connection to a host being installed, over ssh2. The host key is checked before authentication: it
 * must have the fingerprint the admin confirmed (or that was pinned), so no password, key or command reaches a
 * host that is not the one the admin saw. Commands needing root run through `sudo -S -p ''` with the sudo
 * password written on stdin (never in argv, where `ps` on the host would show it) when the user is not root.
 */
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { SshInstallError } from './errors';
import { sshFingerprint, sshKeyType } from './fingerprint';
import { shQuote } from './quote';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
}

export interface SshCredentials {
  privateKey?: string | undefined;
  passphrase?: string | undefined;
  password?: string | undefined;
  /** For a user other than root; absent means sudo must not ask (NOPASSWD). */
  sudoPassword?: string | undefined;
}

export interface HostKey {
  keyType: string;
  fingerprint: string;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const readyTimeoutMs = 15_000;
const outputLimit = 64 * 1024;

function baseConfig(target: SshTarget): ConnectConfig {
  return { host: target.host, port: target.port, username: target.username, readyTimeout: readyTimeoutMs };
}

function connectError(error: Error & { level?: string; code?: string }): SshInstallError {
  if (error.level === 'client-authentication')
    return new SshInstallError(
      'auth_failed',
      'the host refused the login: check the user name and the private key or password',
    );
  if (error.level === 'client-timeout')
    return new SshInstallError(
      'unreachable',
      'no SSH answer in 15 s: check the address, the port and firewalls',
    );
  return new SshInstallError('unreachable', `could not connect: ${error.message}`);
}

/** Connects only far enough to see the host key, then hangs up: nothing is sent but the SSH handshake. */
export function probeHostKey(target: Pick<SshTarget, 'host' | 'port'>): Promise<HostKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let key: HostKey | undefined;
    client.on('error', (error) => {
      client.end();
      if (key) resolve(key);
      else reject(connectError(error));
    });
    client.on('ready', () => {
      client.end();
      reject(new SshInstallError('unreachable', 'the host logged in without checking a key'));
    });
    client.connect({
      ...baseConfig({ ...target, username: 'berth-probe' }),
      hostVerifier: (raw: Buffer) => {
        key = { keyType: sshKeyType(raw), fingerprint: sshFingerprint(raw) };
        return false;
      },
    });
  });
}

export class SshSession {
  readonly #client: Client;
  readonly #target: SshTarget;
  readonly #sudoPassword: string | undefined;
  readonly hostKey: HostKey;

  private constructor(client: Client, target: SshTarget, sudoPassword: string | undefined, hostKey: HostKey) {
    this.#client = client;
    this.#target = target;
    this.#sudoPassword = sudoPassword;
    this.hostKey = hostKey;
  }

  /** Opens the session when the host presents `fingerprint`; any other key ends it before authentication. */
  static open(target: SshTarget, credentials: SshCredentials, fingerprint: string): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let seen: HostKey | undefined;
      client.on('error', (error) => {
        client.end();
        if (seen && seen.fingerprint !== fingerprint)
          reject(
            new SshInstallError(
              'host_key_changed',
              `the host key of ${target.host}:${target.port} is ${seen.fingerprint}, not the confirmed ${fingerprint}: refusing to connect (this could be another machine answering at that address)`,
            ),
          );
        else reject(connectError(error));
      });
      client.on('ready', () =>
        resolve(new SshSession(client, target, credentials.sudoPassword, seen as HostKey)),
      );
      client.connect({
        ...baseConfig(target),
        ...(credentials.privateKey ? { privateKey: credentials.privateKey } : {}),
        ...(credentials.passphrase ? { passphrase: credentials.passphrase } : {}),
        ...(credentials.password ? { password: credentials.password } : {}),
        tryKeyboard: false,
        hostVerifier: (raw: Buffer) => {
          seen = { keyType: sshKeyType(raw), fingerprint: sshFingerprint(raw) };
          return seen.fingerprint === fingerprint;
        },
      });
    });
  }

  get isRoot(): boolean {
    return this.#target.username === 'root';
  }

  /**
   * Runs `command` with sh on the host (as root through sudo when `root` and the user is not root). `command`
   * must have been built with sh`…`/shQuote for every value in it.
   */
  exec(command: string, options: { root?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> {
    const viaSudo = options.root === true && !this.isRoot;
    const line = viaSudo
      ? `sudo ${this.#sudoPassword === undefined ? '-n' : "-S -p ''"} sh -c ${shQuote(command)}`
      : command;
    return new Promise((resolve, reject) => {
      this.#client.exec(line, (error, channel: ClientChannel) => {
        if (error) {
          reject(new SshInstallError('command_failed', `could not run a command: ${error.message}`));
          return;
        }
        let stdout = '';
        let stderr = '';
        const keep = (text: string, chunk: Buffer) => (text + chunk.toString('utf8')).slice(-outputLimit);
        channel.on('data', (chunk: Buffer) => {
          stdout = keep(stdout, chunk);
        });
        channel.stderr.on('data', (chunk: Buffer) => {
          stderr = keep(stderr, chunk);
        });
        const timer = setTimeout(() => {
          channel.close();
          reject(new SshInstallError('command_failed', `a command took longer than ${options.timeoutMs} ms`));
        }, options.timeoutMs ?? 120_000);
        channel.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? null, stdout, stderr });
        });
        // sudo -S reads the password as the first line of stdin; the command itself gets an empty stdin.
        if (viaSudo && this.#sudoPassword !== undefined) channel.write(`${this.#sudoPassword}\n`);
        channel.end();
      });
    });
  }

  /** Writes `data` to `path` over SFTP (as the login user) with the given mode. */
  async upload(path: string, data: Buffer | string, mode: number): Promise<void> {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      this.#client.sftp((error, wrapper) => (error ? reject(error) : resolve(wrapper))),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(path, data, { mode }, (error) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      throw new SshInstallError(
        'command_failed',
        `SFTP upload to ${path} failed: ${(error as Error).message}`,
      );
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.#client.end();
  }
}
