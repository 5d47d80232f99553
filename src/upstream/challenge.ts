/** One `WWW-Authenticate` challenge (RFC 9110 §11.6.1): scheme and auth-params. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * The first challenge of a `WWW-Authenticate` value. Registries send one (`Bearer realm=…,
 * service=…,scope=…` or `Basic realm=…`); parameters are tokens or quoted strings.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const scheme = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)/.exec(header);
  if (!scheme) return undefined;
  const params: Record<string, string> = {};
  const param = /\s*,?\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/y;
  param.lastIndex = scheme[0].length;
  for (let match = param.exec(header); match; match = param.exec(header)) {
    params[match[1]!.toLowerCase()] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!;
  }
  return { scheme: scheme[1]!.toLowerCase(), params };
}
