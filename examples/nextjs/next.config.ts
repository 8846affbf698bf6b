import type { NextConfig } from 'next';

// In this monorepo `@ratekeeper/web` and `@ratekeeper/core` are workspace packages whose `dist`
// is not committed: point Turbopack (the default bundler of `next build` and `next dev`) at their
// TypeScript sources, which it compiles like the app's own. An application installs the published
// packages from npm and needs none of this: its next.config.ts can be empty.
const source = {
  '@ratekeeper/web': '../../packages/web/src/index.ts',
  '@ratekeeper/core': '../../packages/core/src/index.ts',
  '@ratekeeper/core/http': '../../packages/core/src/http.ts',
};

const config: NextConfig = {
  turbopack: { resolveAlias: source },
  // `pnpm typecheck` at the repository root checks src/ and test/: skip Next's own pass (~20 s).
  typescript: { ignoreBuildErrors: true },
};

export default config;
