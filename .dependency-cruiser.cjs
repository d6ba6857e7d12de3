/**
 * Layer rules (issue #11, STYLE "Dependencies point inward"), checked by
 * `npm run lint:layers`, which `npm test` runs.
 * @type {import('dependency-cruiser').IDependencyCruiserConfig}
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'domain/ holds the rules: it imports nothing of ours outside domain/.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
    {
      name: 'store-below-services',
      comment: 'store/ is the persistence layer: it knows domain/ only.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/', pathNot: '^src/(domain|store)/' },
    },
    {
      name: 'cache-below-services',
      comment: 'cache/ knows store/ and domain/ only.',
      severity: 'error',
      from: { path: '^src/cache/' },
      to: { path: '^src/', pathNot: '^src/(domain|store|cache)/' },
    },
    {
      name: 'services-not-http',
      comment: 'use cases never depend on the HTTP edge.',
      severity: 'error',
      from: { path: '^src/services/' },
      to: { path: '^src/(http|cli|upstreams)/' },
    },
    {
      name: 'upstreams-not-http',
      comment: 'the gateway is below the HTTP edge: the caller type and bearer lookup live in services/.',
      severity: 'error',
      from: { path: '^src/upstreams/' },
      to: { path: '^src/(http|cli)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
