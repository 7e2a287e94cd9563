import { LogsView } from './logs-view';

type Search = Record<string, string | string[] | undefined>;

const all = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : typeof value === 'string' ? [value] : value;

/**
 * /logs?c=hostId:containerId[&c=…][&label=key=value…][&tail=N]: live logs of one container, of several, or of
 * every container of the team with those labels, merged by time.
 */
export default async function LogsPage({ searchParams }: { searchParams: Promise<Search> }) {
  const params = await searchParams;
  const targets = all(params.c).flatMap((pair) => {
    const [hostId, containerId] = pair.split(':');
    return hostId && containerId ? [{ hostId, containerId }] : [];
  });
  const tail = Number(all(params.tail)[0] ?? 200);
  return (
    <LogsView
      targets={targets}
      labels={all(params.label)}
      tail={Number.isInteger(tail) && tail >= 0 && tail <= 10_000 ? tail : 200}
    />
  );
}
