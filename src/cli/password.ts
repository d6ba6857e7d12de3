import { UsageError } from './errors.js';

/**
 * A password from one of three places, so it need not sit in the shell history
 * or the process list: `--password P`, `--password-stdin` (the first line of
 * stdin, like `docker login --password-stdin`), or, with neither and a person
 * at the terminal, a prompt that does not echo.
 */
export async function readPassword(options: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (options.password !== undefined && options.passwordStdin) {
    throw new UsageError('give --password or --password-stdin, not both');
  }
  if (options.passwordStdin) return firstLine(await readAll(process.stdin));
  if (options.password !== undefined) {
    if (options.password === '') throw new UsageError('--password is empty');
    return options.password;
  }
  if (!process.stdin.isTTY) {
    throw new UsageError('--password or --password-stdin is required (stdin is not a terminal to ask on)');
  }
  const password = await prompt('Password: ');
  if ((await prompt('Repeat password: ')) !== password) throw new UsageError('the passwords do not match');
  return password;
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new UsageError('--password-stdin: stdin held no password');
  return line;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal in raw mode, echoing nothing; Ctrl-C aborts. */
function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(null);
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
