import { RegistriesView } from './registries-view';

export default function RegistriesPage() {
  return <RegistriesView />;
}
