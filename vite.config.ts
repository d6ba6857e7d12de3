import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard (web/) builds into dist/web: index.html, served by src/http/web.ts for
// every dashboard URL, and hashed files under /assets-web/. The server's CSP allows
// no inline script or style, so everything is emitted as external files.
export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    assetsDir: 'assets-web',
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npx vite` for working on the UI against a running `npm start`.
    proxy: Object.fromEntries(
      ['/api', '/assets/waxseal.css', '/signin', '/signout'].map((p) => [p, 'http://localhost:3000']),
    ),
  },
});
