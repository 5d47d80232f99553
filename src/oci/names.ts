import { RegistryError } from './errors.js';

/**
 * Repository names and tags, as the OCI Distribution Spec v1.1 defines them.
 *
 * A parsed name is the only thing allowed to reach storage or SQL: the grammar admits no
 * `..`, no leading `/` and no characters outside `[a-z0-9._/-]`, so it can never escape a root.
 */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** registry:2 and most clients cap a name (with its host) at 255 characters. */
export const MAX_NAME_LENGTH = 255;

export type RepositoryName = string & { readonly __brand: 'RepositoryName' };
export type Tag = string & { readonly __brand: 'Tag' };

export function isRepositoryName(value: string): value is RepositoryName {
  return value.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(value);
}

export function parseRepositoryName(value: string): RepositoryName {
  if (value.length > MAX_NAME_LENGTH) {
    throw new RegistryError('NAME_INVALID', `repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_PATTERN.test(value)) {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name "${printable(value)}": use lowercase letters, digits and separators (. _ __ -), with / between path components`,
      { name: printable(value) },
    );
  }
  return value as RepositoryName;
}

export function isTag(value: string): value is Tag {
  return TAG_PATTERN.test(value);
}

export function parseTag(value: string): Tag {
  if (!TAG_PATTERN.test(value)) {
    throw new RegistryError(
      'TAG_INVALID',
      `invalid tag "${printable(value)}": up to 128 characters of [A-Za-z0-9_.-], not starting with . or -`,
      { tag: printable(value) },
    );
  }
  return value as Tag;
}

/** Keeps error messages readable and single-line whatever a client sent. */
export function printable(value: string, max = 200): string {
  const cleaned = value.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}
