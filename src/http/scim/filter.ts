import { invalidFilter, invalidPath } from '../../domain/scim-errors.js';

/**
 * The part of RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths that
 * provisioning clients send: `attr eq value` joined by `and`, and value paths
 * such as `members[value eq "id"]` or `emails[type eq "work"].value`.
 * Attribute names and operators are case-insensitive (RFC 7643 §2.1); the
 * core schema's URN may prefix an attribute.
 */

/** One `attr eq value`; attr is lower-case, with its sub-attribute after a dot. */
export interface Condition {
  attr: string;
  value: string | number | boolean | null;
}

/** A PATCH target: attribute, optional value filter, optional sub-attribute; all lower-case. */
export interface Path {
  /** false for an extension schema's attribute (Waxseal keeps none of those). */
  core: boolean;
  attr: string;
  filter?: Condition;
  sub?: string;
}

const CORE_URNS = [
  'urn:ietf:params:scim:schemas:core:2.0:user',
  'urn:ietf:params:scim:schemas:core:2.0:group',
];
const NAME = /^[A-Za-z$][\w$-]*/;

class Reader {
  i = 0;
  constructor(
    readonly src: string,
    readonly fail: (detail: string) => Error,
  ) {}
  rest() {
    return this.src.slice(this.i);
  }
  spaces() {
    while (this.src[this.i] === ' ') this.i++;
  }
  done() {
    return this.i >= this.src.length;
  }
  name(): string {
    const m = NAME.exec(this.rest());
    if (!m) throw this.fail(`expected an attribute name at "${this.rest().slice(0, 30)}"`);
    this.i += m[0].length;
    return m[0].toLowerCase();
  }
  /** attr or urn:…:attr, with an optional .sub; returns whether it was a core attribute. */
  attrPath(): { core: boolean; attr: string; sub?: string } {
    let core = true;
    if (/^urn:/i.test(this.rest())) {
      const end = this.rest().search(/[\s[]|$/);
      const whole = this.rest().slice(0, end);
      const colon = whole.lastIndexOf(':');
      core = CORE_URNS.includes(whole.slice(0, colon).toLowerCase());
      this.i += colon + 1;
    }
    const attr = this.name();
    if (this.src[this.i] === '.') {
      this.i++;
      return { core, attr, sub: this.name() };
    }
    return { core, attr };
  }
  word(): string {
    const m = /^[A-Za-z]+/.exec(this.rest());
    if (!m) throw this.fail(`expected an operator at "${this.rest().slice(0, 30)}"`);
    this.i += m[0].length;
    return m[0].toLowerCase();
  }
  value(): Condition['value'] {
    const rest = this.rest();
    const str = /^"(?:[^"\\]|\\.)*"/.exec(rest);
    const lit = /^(?:true|false|null|-?\d+(?:\.\d+)?)(?![\w])/i.exec(rest);
    const token = str?.[0] ?? lit?.[0];
    if (!token) throw this.fail(`expected a value at "${rest.slice(0, 30)}"`);
    this.i += token.length;
    try {
      return JSON.parse(str ? token : token.toLowerCase()) as Condition['value'];
    } catch {
      throw this.fail('a string value is not valid JSON');
    }
  }
  /** `attr eq value`: eq is the only operator Waxseal can answer exactly. */
  comparison(prefix = ''): Condition {
    const { core, attr, sub } = this.attrPath();
    if (!core) throw this.fail('only attributes of the core schemas can be filtered on');
    this.spaces();
    const op = this.word();
    if (op !== 'eq') throw this.fail(`operator "${op}" is not supported; use eq`);
    this.spaces();
    const value = this.value();
    return { attr: prefix + (sub ? `${attr}.${sub}` : attr), value };
  }
  /** A comparison, or attr[comparison] for a multi-valued attribute. */
  term(): Condition {
    const start = this.i;
    const { attr, core } = this.attrPath();
    if (this.src[this.i] === '[') {
      if (!core) throw this.fail('only attributes of the core schemas can be filtered on');
      this.i++;
      const inner = this.comparison(`${attr}.`);
      if (this.src[this.i] !== ']') throw this.fail('a value filter must end with ]');
      this.i++;
      return inner;
    }
    this.i = start;
    return this.comparison();
  }
}

const MAX = 2000;

/** A filter as a list of conditions that must all hold; anything else is 400 invalidFilter. */
export function parseFilter(filter: string): Condition[] {
  if (filter.length > MAX) throw invalidFilter('The filter is too long');
  const r = new Reader(filter.trim(), (d) => invalidFilter(`The filter cannot be used: ${d}`));
  const out: Condition[] = [];
  for (;;) {
    r.spaces();
    out.push(r.term());
    r.spaces();
    if (r.done()) return out;
    const next = r.word();
    if (next !== 'and') throw r.fail(`"${next}" is not supported; only "and" joins conditions`);
    if (r.src[r.i] !== ' ') throw r.fail('expected a space after and');
  }
}

/** A PATCH path (RFC 7644 §3.5.2); anything unparseable is 400 invalidPath. */
export function parsePath(path: string): Path {
  if (path.length > MAX) throw invalidPath('The path is too long');
  const r = new Reader(path.trim(), (d) => invalidPath(`The path cannot be used: ${d}`));
  const { core, attr, sub } = r.attrPath();
  const out: Path = { core, attr, ...(sub ? { sub } : {}) };
  if (!sub && r.src[r.i] === '[') {
    r.i++;
    r.spaces();
    out.filter = r.comparison();
    r.spaces();
    if (r.src[r.i] !== ']') throw r.fail('a value filter must end with ]');
    r.i++;
    if (r.src[r.i] === '.') {
      r.i++;
      out.sub = r.name();
    }
  }
  if (!r.done()) throw r.fail(`unexpected "${r.rest().slice(0, 30)}"`);
  return out;
}
