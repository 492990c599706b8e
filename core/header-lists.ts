/** Helpers for comma- and semicolon-separated header values with quoted strings (rate-limit fields, Server-Timing). */

/** Splits on `sep` outside double quotes (a policy name may contain commas or semicolons). */
export function split(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i += 1) {
    const ch = value[i];
    if (ch === '\\' && quoted && i + 1 < value.length) {
      cur += ch + value[i + 1];
      i += 1;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out;
}

/** A token or a quoted-string (its escapes undone), trimmed; `quoted` says which. */
export function unquote(value: string): { text: string; quoted: boolean } {
  const v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    return { text: v.slice(1, -1).replace(/\\(.)/g, '$1'), quoted: true };
  }
  return { text: v, quoted: false };
}

/** A Structured-Field-like list, read leniently: `item;k=v;k=v, item;k=v` (spaces tolerated anywhere). */
