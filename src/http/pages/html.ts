/** Server-rendered pages share one layout and one stylesheet (/assets/waxseal.css). */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML; everything a client or user chose (client_name!) goes through here. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** A tagged template whose interpolations are escaped unless wrapped in raw(). */
export class Raw {
  constructor(readonly html: string) {}
}
export const raw = (html: string) => new Raw(html);

const piece = (v: unknown): string => (v instanceof Raw ? v.html : esc(v));

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(piece).join('') : piece(v)) + strings[i + 1];
  });
  return new Raw(out);
}

export function page(title: string, body: Raw): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(title)} · Waxseal</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/waxseal.css">
</head>
<body class="card-page">
<main class="card">
<div class="brand"><span class="seal" aria-hidden="true"></span>Waxseal</div>
${body.html}
</main>
</body>
</html>`;
}

export function field(label: string, name: string, type: string, extra = ''): Raw {
  const id = `f-${name}`;
  return raw(
    `<label for="${id}">${esc(label)}</label><input id="${id}" name="${esc(name)}" type="${esc(type)}" ${extra}>`,
  );
}

export function hidden(name: string, value: string): Raw {
  return raw(`<input type="hidden" name="${esc(name)}" value="${esc(value)}">`);
}

export function alert(message: string | undefined): Raw {
  return message ? raw(`<p class="alert" role="alert">${esc(message)}</p>`) : raw('');
}
