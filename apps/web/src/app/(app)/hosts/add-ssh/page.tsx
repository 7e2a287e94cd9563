import { AddSshView } from './add-ssh-view';

export default function AddSshPage() {
  return <AddSshView />;
}
