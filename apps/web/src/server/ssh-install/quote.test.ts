import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sshFingerprint, sshKeyType } from './fingerprint';
import { agentEnvFile, defaultLayout, layoutSchema } from './layout';
import { envFileQuote, sh, shQuote, UnsafeShellValueError } from './quote';

const hostile = [
  "a'; rm -rf / #",
  '$(reboot)',
  '`reboot`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a hostile value, not a template
  '${IFS}x',
  "'",
  "''",
  '\\',
  'a\nb; echo pwned',
  '*',
  '-n',
  ' leading and trailing ',
  '"double" $HOME',
  '',
];

describe('shQuote', () => {
  it('makes every hostile value one literal word in a real POSIX sh', () => {
    for (const value of hostile) {
      // printf receives the value as its single argument exactly, with nothing expanded or run.
      const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${shQuote(value)}`], { encoding: 'utf8' });
      expect(out).toBe(value);
    }
  });

  it('quotes each interpolated value in sh`…`, leaving only the template as syntax', () => {
    const name = "a'; rm -rf / #";
    const line = sh`printf '%s|%s' ${name} ${'$(reboot)'}`;
    expect(line).toBe(`printf '%s|%s' 'a'\\''; rm -rf / #' '$(reboot)'`);
    expect(execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8' })).toBe(`${name}|$(reboot)`);
  });

  it('refuses a NUL byte rather than cutting the value', () => {
    expect(() => shQuote('a\0b')).toThrow(UnsafeShellValueError);
  });

  it('keeps an environment file literal when sourced', () => {
    const text = agentEnvFile(defaultLayout, "http://cp.example:3000/?q='$(reboot)'", 'tok_en-123');
    const out = execFileSync(
      '/bin/sh',
      ['-c', `${text}\nprintf '%s|%s' "$BERTH_CONTROL_PLANE" "$BERTH_ENROLL_TOKEN"`],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toBe("http://cp.example:3000/?q='$(reboot)'|tok_en-123");
  });

  it('writes environment file values that a real POSIX sh reads back unchanged, and refuses line breaks', () => {
    const values = hostile.filter((value) => !/[\r\n]/.test(value));
    const file = values.map((value, i) => `V${i}=${envFileQuote(value)}`).join('\n');
    const printed = values.map((_, i) => `"$V${i}"`).join(' ');
    const out = execFileSync('/bin/sh', ['-c', `${file}\nprintf '%s\\0' ${printed}`], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(values);
    expect(() => envFileQuote('a\nb')).toThrow(UnsafeShellValueError);
    expect(() => envFileQuote('a\rb')).toThrow(UnsafeShellValueError);
  });

  it('accepts plain install paths only', () => {
    expect(layoutSchema.safeParse(defaultLayout).success).toBe(true);
    for (const prefix of ['/opt/be rth', "/opt/'x", '/opt/$(reboot)', 'relative', '/opt/../etc'])
      expect(layoutSchema.safeParse({ ...defaultLayout, prefix }).success).toBe(false);
  });
});

describe('host key fingerprints', () => {
  it('match what ssh-keygen -lf prints for the same key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bt-ssh-fp-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
      const line = readFileSync(join(dir, 'key.pub'), 'utf8');
      const blob = Buffer.from(line.split(' ')[1] as string, 'base64');
      expect(sshKeyType(blob)).toBe('ssh-ed25519');
      const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'key.pub')], {
        encoding: 'utf8',
      }).split(' ')[1];
      expect(printed).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(sshFingerprint(blob)).toBe(printed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
