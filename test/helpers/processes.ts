import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { freePort } from './server.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** A real Waxseal server process (`waxseal serve`), as an operator runs it. */
export interface Instance {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startInstance(env: Record<string, string>, fixedPort?: number): Promise<Instance> {
  const port = fixedPort ?? (await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const url = `http://127.0.0.1:${port}`;
  // Generous: a loaded machine (CI beside other jobs) can take well over 20 s to start tsx.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance exited with ${child.exitCode}: ${out}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      // Not left running: an orphaned server would keep the test process alive.
      child.kill('SIGKILL');
      throw new Error(`instance did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    child,
    output: () => out,
    kill: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/** A round-robin HTTP load balancer in front of instances: what PUBLIC_URL points at. */
export interface Balancer {
  url: string;
  port: number;
  targets: number[];
  close(): Promise<void>;
}

export async function startBalancer(port?: number): Promise<Balancer> {
  const listenPort = port ?? (await freePort());
  const targets: number[] = [];
  let next = 0;
  const server: Server = createHttpServer((req, res) => {
    const target = targets[next++ % targets.length];
    const upstream = request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${listenPort}`,
    port: listenPort,
    targets,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A TCP relay in front of PostgreSQL that a test can cut: `block()` drops every
 * connection and refuses new ones, as if the database went away; `unblock()` brings it back.
 */
export interface DatabaseGate {
  port: number;
  block(): Promise<void>;
  unblock(): Promise<void>;
  close(): Promise<void>;
}

export async function startDatabaseGate(targetPort = 5432): Promise<DatabaseGate> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: TcpServer | null = null;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createTcpServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.listen(port, '127.0.0.1', resolve);
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
    });
  await listen();
  return { port, block: stop, unblock: listen, close: stop };
}
