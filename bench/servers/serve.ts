import { createServer, type RequestListener } from 'node:http';

/**
 * Serves a bench server on the PORT the bench gave it, as the children of
 * bench/children.ts expect: ready over IPC (with `ready` added to the
 * message), keep-alive as Waxseal's, and on SIGTERM a graceful exit (which is
 * when --cpu-prof writes its profile) after `stop`.
 */
export function serve(
  listener: RequestListener,
  options: { ready?: Record<string, unknown>; stop?: () => Promise<void> } = {},
): void {
  const server = createServer(listener);
  server.keepAliveTimeout = 5000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () =>
    process.send?.({ ready: true, ...options.ready }),
  );
  process.once('SIGTERM', () => {
    server.close(() => {
      void (options.stop?.() ?? Promise.resolve()).finally(() => process.exit(0));
    });
    server.closeAllConnections();
  });
}
