import { z } from 'zod';
import { ROLE_ACTIONS } from '../auth/access-store.js';
import { BROWSE_MAX_LIMIT } from '../core/browse.js';

/**
 * The admin API's request bodies and query strings, validated by the router before a handler
 * runs. Objects are strict: an unknown key is a mistake worth reporting, not ignoring. Rules
 * that need the store (a role exists, a pattern's grammar, password length) stay in `Accounts`.
 */
export const UserBody = z.strictObject({
  password: z.string().optional(),
  roles: z.array(z.string()).optional(),
});

export const PasswordBody = z.strictObject({ password: z.string() });

export const RolesBody = z.strictObject({ roles: z.array(z.string()) });

export const RoleBody = z.strictObject({
  description: z.string().max(1000).optional(),
  permissions: z.array(z.strictObject({ pattern: z.string(), actions: z.array(z.enum(ROLE_ACTIONS as [string, ...string[]])).min(1) })),
});

const flag = z.enum(['true', 'false', '1', '0']).optional().transform((value) => value === 'true' || value === '1');
const offset = z.coerce.number().int().min(0).default(0);
const limit = (fallback: number) => z.coerce.number().int().min(1).max(BROWSE_MAX_LIMIT).default(fallback);
const sort = z.enum(['name', 'pushed', 'size', 'pulled']).default('name');
const order = z.enum(['asc', 'desc']).default('asc');

export const GcQuery = z.object({ dryRun: flag, deleteUntagged: flag, details: flag });
export const RetentionQuery = z.object({ dryRun: flag });
export const GcLastQuery = z.object({
  list: z.enum(['links', 'manifests', 'blobs', 'orphans', 'repositories']).optional(),
  offset,
  limit: limit(100),
});
export const RepositoriesQuery = z.object({ q: z.string().max(255).optional(), sort, order, offset, limit: limit(50) });
export const TagsQuery = z.object({ q: z.string().max(255).optional(), sort, order, offset, limit: limit(100) });
