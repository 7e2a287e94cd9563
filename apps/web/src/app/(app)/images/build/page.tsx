import { BuildView } from './build-view';

export default function BuildImagePage() {
  return <BuildView />;
}
