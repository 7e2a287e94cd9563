import { ImagesView } from './images-view';

export default function ImagesPage() {
  return <ImagesView />;
}
