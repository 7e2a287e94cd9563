import { ConsoleView } from './console-view';

type Search = Record<string, string | string[] | undefined>;

/** /console?hostId&containerId[&name]: a shell in a running container, for operators. */
export default async function ConsolePage({ searchParams }: { searchParams: Promise<Search> }) {
  const params = await searchParams;
  const one = (key: string) => (typeof params[key] === 'string' ? params[key] : '');
  return <ConsoleView hostId={one('hostId')} containerId={one('containerId')} name={one('name')} />;
}
