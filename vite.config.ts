import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard (web/) builds into dist/web: index.html, served by src/http/web.ts for
// every dashboard URL, and hashed files under /assets-web/. The server's CSP allows
// no inline script or style, so everything is emitted as external files.
// index.html also links /assets/waxseal.css, the stylesheet the server serves to its
// own pages (src/http/pages/stylesheet.ts): not a build input, so it is marked
// vite-ignore there rather than left for Vite to warn that it cannot find it.
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
      ['/api', '/assets/waxseal.css', '/favicon.svg', '/signin', '/signout'].map((p) => [
        p,
        'http://localhost:3000',
      ]),
    ),
  },
});
