import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createContext } from '../../../../server/trpc/init';
import { appRouter } from '../../../../server/trpc/router';

export const dynamic = 'force-dynamic';

function handler(request: Request) {
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req: request,
    router: appRouter,
    createContext: () => createContext({ headers: request.headers }),
  });
}

export { handler as GET, handler as POST };
