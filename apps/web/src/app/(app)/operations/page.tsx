import { OperationsView } from './operations-view';

export default function OperationsPage() {
  return <OperationsView />;
}
