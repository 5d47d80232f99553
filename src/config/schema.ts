import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * The config.yml schema, in registry:2's key shape. It is the single source of the raw
 * config type, its validation messages and the unknown-key warnings; `load.ts` turns the
 * result into the typed `Config` the rest of Berth sees.
 *
 * Keys hold no `_`, because `REGISTRY_A_B_C` addresses `a.b.c`.
 */
const duration = z
  .union([z.string(), z.number()])
  .refine((value) => parseDuration(value) !== undefined, { message: 'expected a duration such as "10s", "24h" or "1h30m"' });

const flag = z.boolean();

const headerValues = z.union([z.string(), z.array(z.string())]);

export const rawConfigSchema = z.object({
  version: z.union([z.string(), z.number()]).optional(),
  log: z
    .object({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic']).optional(),
      formatter: z.enum(['text', 'json', 'logstash']).optional(),
      fields: z.record(z.string(), z.unknown()).optional(),
      accesslog: z.object({ disabled: flag.optional() }).optional(),
    })
    .optional(),
  loglevel: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  storage: z
    .object({
      filesystem: z
        .object({
          rootdirectory: z.string().min(1).optional(),
          maxthreads: z.number().int().min(25).optional(),
        })
        .nullable()
        .optional(),
      delete: z.object({ enabled: flag.optional() }).optional(),
      maintenance: z
        .object({
          uploadpurging: z
            .object({
              enabled: flag.optional(),
              age: duration.optional(),
              interval: duration.optional(),
              dryrun: flag.optional(),
            })
            .optional(),
          readonly: z.object({ enabled: flag.optional() }).optional(),
          /** Berth: online garbage collection on a schedule. */
          gc: z
            .object({
              enabled: flag.optional(),
              interval: duration.optional(),
              grace: duration.optional(),
              deleteuntagged: flag.optional(),
              dryrun: flag.optional(),
            })
            .optional(),
        })
        .optional(),
      cache: z.record(z.string(), z.unknown()).optional(),
      redirect: z.object({ disable: flag.optional() }).optional(),
      tag: z.object({ concurrencylimit: z.number().int().positive().optional() }).optional(),
    })
    .optional(),
  http: z
    .object({
      addr: z.string().min(1).optional(),
      net: z.enum(['tcp']).optional(),
      prefix: z.string().optional(),
      host: z.string().optional(),
      secret: z.string().optional(),
      relativeurls: flag.optional(),
      draintimeout: duration.optional(),
      headers: z.record(z.string(), headerValues).optional(),
      tls: z
        .object({
          certificate: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
          clientcas: z.array(z.string()).optional(),
          minimumtls: z.enum(['tls1.2', 'tls1.3']).optional(),
        })
        .optional(),
      debug: z.record(z.string(), z.unknown()).optional(),
      http2: z.object({ disabled: flag.optional() }).optional(),
    })
    .optional(),
  health: z
    .object({
      storagedriver: z
        .object({
          enabled: flag.optional(),
          interval: duration.optional(),
          threshold: z.number().int().positive().optional(),
        })
        .optional(),
    })
    .optional(),
  /** Berth: where metadata lives. Default: SQLite inside the storage root. */
  database: z
    .object({
      sqlite: z.object({ path: z.string().min(1).optional() }).optional(),
    })
    .optional(),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;

/**
 * registry:2 sections Berth recognises but does not implement yet. Ignoring `auth` would
 * silently open a registry its owner thinks is protected, so that one stops startup.
 */
export const REFUSED_SECTIONS: Record<string, string> = {
  auth: 'authentication is not implemented yet; refusing to start an open registry that the configuration says is protected',
};
export const IGNORED_SECTIONS: Record<string, string> = {
  notifications: 'webhooks are not implemented yet',
  redis: 'Berth does not need Redis for caching',
  proxy: 'pull-through cache repositories are not implemented yet',
  validation: 'manifest URL validation is not implemented',
  compatibility: 'schema 1 is not supported',
  reporting: 'error reporting services are not supported',
  middleware: 'storage middleware is not supported',
};

/** Keys present in `value` that the schema does not know, as dotted paths. */
export function findUnknownKeys(schema: z.ZodType, value: unknown, path: string[] = []): string[] {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodObject) || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const shape = inner.shape as Record<string, z.ZodType>;
  const unknown: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const childSchema = shape[key];
    if (!childSchema) {
      if (path.length === 0 && (key in REFUSED_SECTIONS || key in IGNORED_SECTIONS)) continue;
      unknown.push([...path, key].join('.'));
    } else {
      unknown.push(...findUnknownKeys(childSchema, child, [...path, key]));
    }
  }
  return unknown;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}
