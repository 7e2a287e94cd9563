import { AuditView } from './audit-view';

export default function AuditPage() {
  return <AuditView />;
}
