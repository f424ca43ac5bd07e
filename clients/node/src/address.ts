// Envelope addresses compared the way binding rules compare them: case-insensitively.

/** Whether two envelope addresses are the same ignoring case (angle brackets and blanks dropped). */
export function sameAddress(a: string, b: string): boolean {
  return normalizeAddress(a) === normalizeAddress(b);
}

/** Whether `address` is one of `candidates` (e.g. `ev.propertyList("blocked")`), ignoring case. */
export function addressIn(address: string, candidates: Iterable<string>): boolean {
  const want = normalizeAddress(address);
  if (want === "") return false;
  for (const c of candidates) if (normalizeAddress(c) === want) return true;
  return false;
}

function normalizeAddress(a: string): string {
  let s = a.trim();
  if (s.startsWith("<") && s.endsWith(">")) s = s.slice(1, -1);
  return s.toLowerCase();
}
