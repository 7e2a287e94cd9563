'use client';

import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { type Health, healthLabel, healthOf } from '../../lib/health';

const stateColours: Record<string, string> = {
  running: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200',
  paused: 'bg-amber-100 text-amber-800 dark:bg-amber-900/60 dark:text-amber-200',
  restarting: 'bg-sky-100 text-sky-800 dark:bg-sky-900/60 dark:text-sky-200',
  exited: 'bg-slate-200 text-slate-700 dark:bg-slate-700 dark:text-slate-200',
  created: 'bg-slate-100 text-slate-600 dark:bg-slate-800 dark:text-slate-300',
  dead: 'bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200',
  removing: 'bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200',
  online: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200',
  offline: 'bg-slate-200 text-slate-700 dark:bg-slate-700 dark:text-slate-200',
  revoked: 'bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200',
  'never connected': 'bg-slate-100 text-slate-600 dark:bg-slate-800 dark:text-slate-300',
  succeeded: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200',
  failed: 'bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200',
  'timed out': 'bg-amber-100 text-amber-800 dark:bg-amber-900/60 dark:text-amber-200',
  healthy: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200',
  unhealthy: 'bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200',
  'health: starting': 'bg-sky-100 text-sky-800 dark:bg-sky-900/60 dark:text-sky-200',
};

export function Badge({ value, testId }: { value: string; testId?: string }) {
  return (
    <span
      data-testid={testId}
      className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ${stateColours[value] ?? stateColours.created}`}
    >
      {value}
    </span>
  );
}

/** A container's health beside its state, when it has a healthcheck and runs (read from its status line). */
export function HealthBadge({
  status,
  health,
}: {
  status?: string | undefined;
  health?: Health | undefined;
}) {
  const value = health ?? healthOf(status);
  if (!value) return null;
  return (
    <span className="ml-1">
      <Badge value={healthLabel(value)} testId="container-health" />
    </span>
  );
}

/** Marks a row whose host is offline: what is shown is what the host last reported. */
export function Stale({ lastSeenAt }: { lastSeenAt: Date | string | null }) {
  const seen = lastSeenAt ? new Date(lastSeenAt).toLocaleString() : 'never';
  return (
    <span
      title={`The host is offline; last reported ${seen}`}
      data-testid="stale"
      className="ml-2 rounded bg-amber-50 px-1.5 text-xs text-amber-800 dark:bg-amber-900/40 dark:text-amber-200"
    >
      stale
    </span>
  );
}

export const inputClass =
  'rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800 dark:text-slate-100';
export const buttonClass =
  'rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 disabled:opacity-50 dark:border-slate-600 dark:hover:bg-slate-700';

/** A value that follows `value` once it has stopped changing for `ms` (search boxes query as one types). */
export function useDebounced<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function Pager(props: {
  page: number;
  pageSize: number;
  total: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(props.total / props.pageSize));
  const from = props.total === 0 ? 0 : (props.page - 1) * props.pageSize + 1;
  const to = Math.min(props.total, props.page * props.pageSize);
  return (
    <nav
      aria-label="Pages"
      className="mt-3 flex items-center gap-3 text-sm text-slate-600 dark:text-slate-300"
    >
      <span data-testid="pager-range">
        {from}–{to} of {props.total}
      </span>
      <button
        type="button"
        className={buttonClass}
        disabled={props.page <= 1}
        onClick={() => props.onPage(props.page - 1)}
      >
        Previous
      </button>
      <span>
        page {props.page} of {pages}
      </span>
      <button
        type="button"
        className={buttonClass}
        disabled={props.page >= pages}
        onClick={() => props.onPage(props.page + 1)}
      >
        Next
      </button>
    </nav>
  );
}

/** A sortable column header: a button inside the header cell, with aria-sort on the cell. */
export function SortHeader<K extends string>(props: {
  label: string;
  column: K;
  sort: K;
  direction: 'asc' | 'desc';
  onSort: (column: K, direction: 'asc' | 'desc') => void;
}) {
  const active = props.sort === props.column;
  return (
    <th
      className="py-2 pr-3 font-medium"
      aria-sort={active ? (props.direction === 'asc' ? 'ascending' : 'descending') : 'none'}
    >
      <button
        type="button"
        className="hover:underline"
        onClick={() => props.onSort(props.column, active && props.direction === 'asc' ? 'desc' : 'asc')}
      >
        {props.label}
        {active ? (props.direction === 'asc' ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  );
}

interface Toast {
  id: number;
  text: string;
  kind: 'ok' | 'error';
}
const ToastContext = createContext<(text: string, kind?: 'ok' | 'error') => void>(() => {});

export function useToast() {
  return useContext(ToastContext);
}

export function Toasts({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((text: string, kind: 'ok' | 'error' = 'ok') => {
    const id = Date.now() + Math.random();
    setToasts((all) => [...all.slice(-4), { id, text, kind }]);
    setTimeout(() => setToasts((all) => all.filter((t) => t.id !== id)), 5000);
  }, []);
  return (
    <ToastContext.Provider value={push}>
      {children}
      <div aria-live="polite" className="fixed right-4 bottom-4 z-50 flex flex-col gap-2">
        {toasts.map((t) => (
          <div
            key={t.id}
            role={t.kind === 'error' ? 'alert' : 'status'}
            data-testid="toast"
            className={`rounded-md px-4 py-2 text-sm shadow-lg ${t.kind === 'error' ? 'bg-red-700 text-white' : 'bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900'}`}
          >
            {t.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
