'use client';

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { buttonClass, inputClass } from '../fleet-ui';
import { LogBuffer, type LogLine, logFileText, makeFilter, shortTime } from './log-buffer';

export interface LogTarget {
  hostId: string;
  containerId: string;
}

interface Source {
  hostId: string;
  hostName: string;
  containerId: string;
  name: string;
}

/** The /logs page for some containers, or for every container with some labels (merged by time). */
export function logsHref(selection: { targets?: LogTarget[]; labels?: string[] }): string {
  const query = new URLSearchParams();
  for (const t of selection.targets ?? []) query.append('c', `${t.hostId}:${t.containerId}`);
  for (const l of selection.labels ?? []) query.append('label', l);
  return `/logs?${query}`;
}

const rowHeight = 18;
const overscanRows = 20;
/** Lines held while paused before the viewer stops reading (the stream then waits, back to the agent). */
const maxWaiting = 10_000;
const flushMs = 50;

const sourceColours = [
  'text-sky-300',
  'text-emerald-300',
  'text-fuchsia-300',
  'text-orange-300',
  'text-lime-300',
  'text-cyan-300',
  'text-rose-300',
  'text-violet-300',
];

type Status =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'ended'; message: string }
  | { kind: 'failed'; message: string };

/**
 * Live logs of one or several containers: the last `tail` lines, then new ones as they are written. Lines are
 * held in a bounded buffer (the oldest dropped, with a note) and only the rows on screen are in the DOM, so a
 * container writing very fast costs a render per 50 ms, not per line. Pausing keeps reading into a bounded
 * waiting list (its count shown); when that is full the viewer stops reading, and the stream waits all the way
 * back to the agent. Leaving the page ends the stream on the agent.
 */
export function LogViewer(props: LogViewerProps) {
  // Reconnecting (or asking for another number of past lines) starts over: a fresh stream and buffer.
  const [generation, setGeneration] = useState(0);
  const [tail, setTail] = useState(props.tail ?? 200);
  return (
    <LogStream
      key={`${generation}/${tail}`}
      {...props}
      tail={tail}
      onTail={setTail}
      onReconnect={() => setGeneration((g) => g + 1)}
    />
  );
}

export interface LogViewerProps {
  teamId: string;
  targets?: LogTarget[];
  labels?: string[];
  tail?: number;
  /** Lines kept in memory. */
  capacity?: number;
  /** CSS height of the scrolling area. */
  height?: string;
  /** File name (without .log) for downloads. */
  downloadName?: string;
  /** Told which containers the stream covers (names and hosts), once it opened. */
  onSources?: (
    sources: Array<{ hostId: string; hostName: string; containerId: string; name: string }>,
  ) => void;
}

const tailChoices = [100, 200, 1000, 5000, 10_000];

function LogStream(props: LogViewerProps & { onReconnect: () => void; onTail: (tail: number) => void }) {
  const { teamId, tail = 200, capacity = 50_000, height = '60vh' } = props;
  const targetsKey = (props.targets ?? []).map((t) => `${t.hostId}:${t.containerId}`).join(',');
  const labelsKey = (props.labels ?? []).join('\n');
  const buffer = useMemo(() => new LogBuffer(capacity), [capacity]);
  const pending = useRef<LogLine[]>([]);
  const waiting = useRef<LogLine[]>([]);
  const pausedRef = useRef(false);
  const resume = useRef<(() => void) | undefined>(undefined);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const [, setVersion] = useState(0);
  const [sources, setSources] = useState<Source[]>([]);
  const [ended, setEnded] = useState<Record<number, string>>({});
  const [status, setStatus] = useState<Status>({ kind: 'connecting' });
  const [paused, setPaused] = useState(false);
  const [showTimes, setShowTimes] = useState(true);
  const [filterText, setFilterText] = useState('');
  const [regex, setRegex] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const onSources = useRef(props.onSources);
  onSources.current = props.onSources;
  const follow = useRef(true);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);

  const render = useCallback(() => setVersion((v) => v + 1), []);
  const flush = useCallback(() => {
    clearTimeout(flushTimer.current);
    flushTimer.current = undefined;
    if (pending.current.length > 0) buffer.add(pending.current.splice(0));
    render();
  }, [buffer, render]);

  useEffect(() => {
    const abort = new AbortController();
    buffer.clear();
    pending.current = [];
    waiting.current = [];
    setSources([]);
    setEnded({});
    setStatus({ kind: 'connecting' });
    render();
    const query = new URLSearchParams({ teamId, tail: String(tail) });
    for (const pair of targetsKey ? targetsKey.split(',') : []) query.append('c', pair);
    for (const label of labelsKey ? labelsKey.split('\n') : []) query.append('label', label);
    let seq = 0;
    let sourceCount = 0;
    const failures: string[] = [];
    const take = (name: string, data: string) => {
      const parsed = JSON.parse(data) as Record<string, unknown>;
      if (name === 'line') {
        const line: LogLine = {
          id: seq++,
          source: Number(parsed.s ?? 0),
          stream: parsed.stream === 'stderr' ? 'stderr' : 'stdout',
          text: String(parsed.text ?? '').replace(/\r?\n$/, ''),
          time: typeof parsed.time === 'string' ? parsed.time : '',
        };
        if (pausedRef.current) {
          waiting.current.push(line);
          flushTimer.current ??= setTimeout(flush, flushMs);
          return;
        }
        pending.current.push(line);
        if (pending.current.length >= capacity) flush();
        else flushTimer.current ??= setTimeout(flush, flushMs);
      } else if (name === 'sources') {
        const list = parsed as unknown as Source[];
        sourceCount = list.length;
        setSources(list);
        onSources.current?.(list);
        setStatus({ kind: 'live' });
      } else if (name === 'source-end') {
        const index = Number(parsed.s ?? 0);
        if (typeof parsed.error === 'string') failures.push(parsed.error);
        setEnded((previous) => ({
          ...previous,
          [index]: typeof parsed.error === 'string' ? parsed.error : 'stopped',
        }));
      } else if (name === 'end') {
        flush();
        setStatus({
          kind: 'ended',
          message:
            failures.length > 0
              ? `The stream ended: ${[...new Set(failures)].join('; ')}`
              : sourceCount > 1
                ? 'The stream ended: every container stopped.'
                : 'The stream ended: the container stopped.',
        });
      }
    };
    (async () => {
      const response = await fetch(`/api/logs?${query}`, {
        signal: abort.signal,
        headers: { accept: 'text/event-stream' },
      });
      if (!response.ok || !response.body) {
        const body = (await response.json().catch(() => ({}))) as { message?: string };
        setStatus({
          kind: 'failed',
          message: body.message ?? `The logs could not be opened (${response.status}).`,
        });
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        // Paused with a full waiting list: read nothing until resumed, so the stream stops at the agent.
        while (pausedRef.current && waiting.current.length >= maxWaiting)
          await new Promise<void>((resolve) => {
            resume.current = resolve;
          });
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        // One cut per read, not per event: a read holds hundreds of lines when a container writes fast.
        let start = 0;
        let end = text.indexOf('\n\n');
        while (end >= 0) {
          let name = 'message';
          let data = '';
          for (const field of text.slice(start, end).split('\n')) {
            if (field.startsWith('event: ')) name = field.slice(7);
            else if (field.startsWith('data: ')) data += field.slice(6);
          }
          if (data) take(name, data);
          start = end + 2;
          end = text.indexOf('\n\n', start);
        }
        text = text.slice(start);
      }
    })().catch((error: unknown) => {
      if (abort.signal.aborted) return;
      flush();
      setStatus({ kind: 'failed', message: `The log stream was interrupted: ${(error as Error).message}` });
    });
    return () => {
      abort.abort();
      resume.current?.();
      clearTimeout(flushTimer.current);
      flushTimer.current = undefined;
    };
  }, [teamId, targetsKey, labelsKey, tail, buffer, capacity, flush, render]);

  const { filter, error: filterError } = useMemo(() => makeFilter(filterText, regex), [filterText, regex]);
  useEffect(() => {
    buffer.setFilter(filter);
    render();
  }, [buffer, filter, render]);

  const togglePause = () => {
    if (pausedRef.current) {
      pausedRef.current = false;
      setPaused(false);
      buffer.add(waiting.current.splice(0));
      follow.current = true;
      const wake = resume.current;
      resume.current = undefined;
      wake?.();
      render();
    } else {
      pausedRef.current = true;
      setPaused(true);
    }
  };

  const visible = buffer.visible;
  const total = visible.length;

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    setViewport(element.clientHeight);
    if (follow.current) {
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    }
  });

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscanRows);
  const last = Math.min(total, Math.ceil((scrollTop + viewport) / rowHeight) + overscanRows);
  const rows = visible.slice(first, last);
  const merged = sources.length > 1;
  const names = sources.map((s) => (merged ? `${s.name}@${s.hostName}` : s.name));

  const download = () => {
    const blob = new Blob([logFileText(buffer.all, names)], { type: 'text/plain' });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = `${(props.downloadName ?? names.join('+')) || 'logs'}.log`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  return (
    <div className="mt-2" data-testid="log-viewer">
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <label className="flex items-center gap-1 text-xs">
          Last
          <select
            value={tail}
            onChange={(e) => props.onTail(Number(e.target.value))}
            className={inputClass}
            aria-label="Past lines to show"
          >
            {[...new Set([...tailChoices, tail])]
              .sort((x, y) => x - y)
              .map((n) => (
                <option key={n} value={n}>
                  {n.toLocaleString()}
                </option>
              ))}
          </select>
          lines, then new ones
        </label>
        <input
          type="search"
          aria-label="Filter lines"
          placeholder={regex ? 'regular expression' : 'filter'}
          value={filterText}
          onChange={(e) => setFilterText(e.target.value)}
          className={`w-56 ${inputClass}`}
        />
        <label className="flex items-center gap-1 text-xs">
          <input type="checkbox" checked={regex} onChange={(e) => setRegex(e.target.checked)} />
          Regex
        </label>
        <label className="flex items-center gap-1 text-xs">
          <input type="checkbox" checked={showTimes} onChange={(e) => setShowTimes(e.target.checked)} />
          Timestamps
        </label>
        <button type="button" className={buttonClass} onClick={togglePause} aria-pressed={paused}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        {paused ? (
          <span data-testid="log-waiting" className="text-xs text-amber-700 dark:text-amber-300">
            {waiting.current.length.toLocaleString()} new line{waiting.current.length === 1 ? '' : 's'}{' '}
            waiting
            {waiting.current.length >= maxWaiting ? ' (stream paused)' : ''}
          </span>
        ) : null}
        <button type="button" className={buttonClass} onClick={download} disabled={buffer.size === 0}>
          Download
        </button>
        {status.kind === 'ended' || status.kind === 'failed' ? (
          <button type="button" className={buttonClass} onClick={props.onReconnect}>
            Reconnect
          </button>
        ) : null}
        <span className="ml-auto text-xs text-slate-500" data-testid="log-count">
          {filter ? `${total.toLocaleString()} of ` : ''}
          {buffer.size.toLocaleString()} lines
        </span>
      </div>
      {filterError ? (
        <p role="alert" className="mt-1 text-xs text-red-700">
          Not a regular expression: {filterError}
        </p>
      ) : null}
      {merged ? (
        <ul className="mt-2 flex flex-wrap gap-3 text-xs" aria-label="Containers in this view">
          {sources.map((s, i) => (
            <li key={`${s.hostId}:${s.containerId}`} className="flex items-center gap-1">
              <span
                aria-hidden="true"
                className={`inline-block h-2 w-2 rounded-full bg-current ${sourceColours[i % sourceColours.length]?.replace('300', '600')}`}
              />
              <span className="font-mono">{names[i]}</span>
              {ended[i] ? <span className="text-slate-500">({ended[i]})</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="mt-2 rounded bg-slate-900 font-mono text-xs text-slate-100">
        {buffer.dropped > 0 ? (
          <p className="border-b border-slate-700 px-3 py-1 text-slate-400" data-testid="log-dropped">
            {buffer.dropped.toLocaleString()} older lines dropped: only the newest {capacity.toLocaleString()}{' '}
            are kept (and downloaded).
          </p>
        ) : null}
        <div
          ref={scroller}
          role="log"
          aria-label="Log lines"
          aria-live="off"
          className="relative overflow-auto"
          style={{ height }}
          onScroll={(e) => {
            const element = e.currentTarget;
            setScrollTop(element.scrollTop);
            follow.current = element.scrollTop + element.clientHeight >= element.scrollHeight - rowHeight * 2;
          }}
        >
          <div style={{ height: total * rowHeight, position: 'relative', minWidth: '100%' }}>
            <div style={{ position: 'absolute', top: first * rowHeight, left: 0, right: 0 }}>
              {rows.map((line) => (
                <div
                  key={line.id}
                  data-testid="log-line"
                  data-stream={line.stream}
                  className={`flex gap-2 px-3 whitespace-pre ${line.stream === 'stderr' ? 'bg-red-950/40 text-red-200' : ''}`}
                  style={{ height: rowHeight, lineHeight: `${rowHeight}px` }}
                >
                  {showTimes ? (
                    <span className="shrink-0 text-slate-500" data-testid="log-time" title={line.time}>
                      {shortTime(line.time)}
                    </span>
                  ) : null}
                  {merged ? (
                    <span
                      className={`w-40 shrink-0 truncate ${sourceColours[line.source % sourceColours.length]}`}
                      data-testid="log-source"
                    >
                      {names[line.source]}
                    </span>
                  ) : null}
                  <span
                    className={`w-7 shrink-0 ${line.stream === 'stderr' ? 'font-bold text-red-400' : 'text-slate-500'}`}
                    title={line.stream === 'stderr' ? 'standard error' : 'standard output'}
                  >
                    {line.stream === 'stderr' ? 'err' : 'out'}
                  </span>
                  <span>{line.text}</span>
                </div>
              ))}
            </div>
          </div>
        </div>
        <p className="border-t border-slate-700 px-3 py-1 text-slate-400" data-testid="log-status">
          {status.kind === 'connecting'
            ? 'Connecting…'
            : status.kind === 'live'
              ? paused
                ? 'Paused.'
                : 'Following.'
              : status.message}
        </p>
      </div>
    </div>
  );
}
