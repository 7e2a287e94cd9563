'use client';

import '@xterm/xterm/css/xterm.css';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import Link from 'next/link';
import { useEffect, useRef, useState } from 'react';
import { useCurrentTeam } from '../team-context';

type Status = 'connecting' | 'open' | 'closed';

/**
 * A terminal on /api/containers/console: keystrokes and sizes go up as JSON, the shell's bytes come down as
 * binary frames. Leaving the page closes the socket, which hangs the shell up on the host. `embedded`: a part of
 * another page (the container's), under that page's heading.
 */
export function ConsoleView(props: {
  hostId: string;
  containerId: string;
  name: string;
  embedded?: boolean;
}) {
  const { me, team, canOperate } = useCurrentTeam();
  const screen = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>('connecting');
  const [notice, setNotice] = useState('');
  const teamId = team?.teamId;

  useEffect(() => {
    if (!teamId || !canOperate || !screen.current) return;
    const terminal = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(screen.current);
    fit.fit();
    const url = new URL('/api/containers/console', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = new URLSearchParams({
      teamId,
      hostId: props.hostId,
      containerId: props.containerId,
      rows: String(terminal.rows),
      cols: String(terminal.cols),
    }).toString();
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    let opened = false;
    socket.onopen = () => {
      opened = true;
      setStatus('open');
      terminal.focus();
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        terminal.write(new Uint8Array(event.data as ArrayBuffer));
        return;
      }
      const message = JSON.parse(event.data) as { type: string; message?: string };
      setNotice(message.type === 'error' ? (message.message ?? 'the console failed') : 'The shell exited.');
    };
    socket.onclose = () => {
      setStatus('closed');
      if (!opened)
        setNotice('The console could not be opened: is the container running and the host online?');
    };
    const send = (message: object) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };
    const typed = terminal.onData((data) => send({ type: 'input', data }));
    const resized = terminal.onResize(({ rows, cols }) => send({ type: 'resize', rows, cols }));
    const refit = () => fit.fit();
    window.addEventListener('resize', refit);
    return () => {
      window.removeEventListener('resize', refit);
      typed.dispose();
      resized.dispose();
      socket.close();
      terminal.dispose();
    };
  }, [teamId, canOperate, props.hostId, props.containerId]);

  if (me.isPending) return <p className="text-slate-500">Loading…</p>;
  if (!team) return <p>You are not a member of any team yet.</p>;
  if (!canOperate)
    return <p role="alert">The console is for the team&apos;s operators, admins and owners.</p>;
  return (
    <section>
      <div className="flex items-baseline gap-3">
        {props.embedded ? null : (
          <>
            <h1 className="text-2xl font-semibold">Console</h1>
            <span className="font-mono text-sm text-slate-500">
              {props.name || props.containerId.slice(0, 12)}
            </span>
          </>
        )}
        <span data-testid="console-status" className="text-sm text-slate-500">
          {status}
        </span>
        {props.embedded ? null : (
          <Link href="/containers" className="ml-auto text-sm underline">
            Containers
          </Link>
        )}
      </div>
      {notice ? (
        <p role="status" className="mt-2 text-sm text-amber-700 dark:text-amber-300">
          {notice}
        </p>
      ) : null}
      <div
        ref={screen}
        data-testid="console-terminal"
        className="mt-3 h-[28rem] rounded border border-slate-300 bg-black p-1 dark:border-slate-700"
      />
    </section>
  );
}
