import { Providers } from '../../../lib/trpc';
import { InviteView } from './invite-view';

export const dynamic = 'force-dynamic';

export default async function InvitePage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  return (
    <Providers>
      <main className="mx-auto max-w-md px-6 py-16">
        <InviteView token={token} />
      </main>
    </Providers>
  );
}
