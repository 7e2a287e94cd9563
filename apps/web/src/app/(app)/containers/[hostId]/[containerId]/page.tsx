import { ContainerDetailView } from './container-detail-view';

/** /containers/HOST/CONTAINER: one container's inspect data, state history, logs, console and actions. */
export default async function ContainerPage({
  params,
}: {
  params: Promise<{ hostId: string; containerId: string }>;
}) {
  const { hostId, containerId } = await params;
  return <ContainerDetailView hostId={hostId} containerId={containerId} />;
}
