/**
 * Repository name patterns in role permissions: a name (`team-a/app`), or a name with `*`
 * standing for any run of characters, `/` included (`team-a/*` covers `team-a/x/y`; `*`
 * covers everything).
 */
const PATTERN = /^(?:\*|[a-z0-9*]+(?:(?:[._/]|__|-+)[a-z0-9*]+)*)$/;

export function isValidPattern(pattern: string): boolean {
  return pattern.length > 0 && pattern.length <= 255 && PATTERN.test(pattern) && !pattern.includes('**');
}

export function matchesPattern(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === name;
  const parts = pattern.split('*');
  if (!name.startsWith(parts[0]!) || !name.endsWith(parts[parts.length - 1]!)) return false;
  let position = parts[0]!.length;
  const end = name.length - parts[parts.length - 1]!.length;
  if (end < position) return false;
  for (const part of parts.slice(1, -1)) {
    const found = name.indexOf(part, position);
    if (found < 0 || found + part.length > end) return false;
    position = found + part.length;
  }
  return true;
}
