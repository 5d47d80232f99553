import { z } from 'zod';
import { isValidPattern } from '../auth/patterns.js';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';
import { registry2ProxySchema, repositoriesSchema } from './repositories.js';

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

/**
 * registry:2 reads config.yml and `REGISTRY_*` values with yaml.v2, a YAML 1.1 reader: these
 * spellings (exactly these cases, checked against docker-registry 2.8) are booleans there.
 * Berth's YAML reader is YAML 1.2, which keeps only true/false; the rest are read here, for
 * boolean keys only, so a string key holding "yes" or "on" stays a string, as in yaml.v2.
 */
const YAML_1_1_BOOLEANS: Readonly<Record<string, boolean>> = Object.fromEntries([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((word) => [word, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((word) => [word, false] as const),
]);

const flag = z.preprocess(
  (value) => (typeof value === 'string' && Object.hasOwn(YAML_1_1_BOOLEANS, value) ? YAML_1_1_BOOLEANS[value] : value),
  z.boolean({ error: 'expected a boolean: true/false, yes/no, on/off or y/n (YAML 1.1 spellings, as registry:2 reads them)' }),
);

/** A string key whose value YAML may read as a number (`REGISTRY_DATABASE_PASSWORD=1234`). */
const text = z.union([z.string().min(1), z.number()]).transform(String);

const size = z
  .union([z.string(), z.number()])
  .refine((value) => parseSize(value) !== undefined, { message: 'expected a size such as 1073741824, "500MB" or "10GiB"' });

const regex = z.string().refine(
  (value) => {
    try {
      new RegExp(value);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected a valid regular expression' },
);

/** Berth: per repository pattern, as Nexus and Harbor offer them. The first matching entry applies. */
export const policySchema = z.object({
  match: z.string().refine(isValidPattern, { message: 'expected a repository name or pattern such as "team-a/*" or "*"' }),
  deployment: z.enum(['allow-redeploy', 'disable-redeploy', 'read-only']).optional(),
  quota: z
    .object({
      limit: size,
      scope: z.enum(['repository', 'pattern']).optional(),
    })
    .optional(),
  retention: z
    .object({
      keep: z.number().int().min(0).optional(),
      olderthan: duration.optional(),
      notpulledfor: duration.optional(),
      include: regex.optional(),
      exclude: regex.optional(),
    })
    .refine((rule) => rule.keep !== undefined || rule.olderthan !== undefined || rule.notpulledfor !== undefined, {
      message: 'set at least one of keep, olderthan, notpulledfor',
    })
    .optional(),
});

const headerValues = z.union([z.string(), z.array(z.string())]);

/** registry:2's `notifications.endpoints`, plus Berth's `secret` (HMAC signature) and `format`. */
const notificationEndpoint = z.object({
  name: z.string().min(1),
  disabled: flag.optional(),
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
  headers: z.record(z.string(), headerValues).optional(),
  timeout: duration.optional(),
  threshold: z.number().int().min(0).optional(),
  backoff: duration.optional(),
  ignoredmediatypes: z.array(z.string()).optional(),
  ignore: z
    .object({
      mediatypes: z.array(z.string()).optional(),
      actions: z.array(z.enum(['push', 'pull', 'mount', 'delete'])).optional(),
    })
    .optional(),
  /** Berth: key for the `X-Berth-Signature: sha256=<hex>` HMAC of each delivery's body. */
  secret: z.string().min(1).optional(),
  /** Berth: registry:2's envelope (default) or CloudEvents 1.0 (batched JSON). */
  format: z.enum(['distribution', 'cloudevents']).optional(),
});

const notifications = z.object({
  events: z
    .object({
      includereferences: flag.optional(),
      /** Berth: send pull events (off by default: pulls are many, and they are batched). */
      includepulls: flag.optional(),
    })
    .optional(),
  endpoints: z.array(notificationEndpoint).optional(),
});

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
      /** registry:2's S3 driver keys; `regionendpoint` for S3-compatible stores (Ceph RGW, MinIO). */
      s3: z
        .object({
          region: z.string().min(1),
          regionendpoint: z.string().min(1).optional(),
          bucket: z.string().min(1),
          accesskey: z.string().min(1).optional(),
          secretkey: z.string().min(1).optional(),
          forcepathstyle: flag.optional(),
          rootdirectory: z.string().optional(),
          chunksize: size.refine((value) => parseSize(value)! >= 5 * 1024 * 1024, { message: 'S3 parts are at least 5 MiB (5242880)' }).optional(),
          multipartcopythresholdsize: size.optional(),
          secure: flag.optional(),
          encrypt: flag.optional(),
          skipverify: flag.optional(),
        })
        .refine((s3) => (s3.accesskey === undefined) === (s3.secretkey === undefined), { message: 'set accesskey and secretkey together (or neither, for the default credential chain)' })
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
      /** Berth: how long a slow or silent client may hold a connection. */
      timeouts: z
        .object({
          /** The request line and headers must arrive within this. */
          headers: duration.optional(),
          /** A connection that neither sends nor receives anything for this long is closed (stalled bodies, stalled reads). */
          idle: duration.optional(),
          /** An idle keep-alive connection between requests is closed after this. */
          keepalive: duration.optional(),
        })
        .optional(),
      /** Berth: concurrent connections one client address may hold; further ones are refused. */
      maxconnectionsperclient: z.number().int().positive().optional(),
      headers: z.record(z.string(), headerValues).optional(),
      tls: z
        .object({
          certificate: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
          clientcas: z.array(z.string()).optional(),
          minimumtls: z.enum(['tls1.2', 'tls1.3']).optional(),
          /** Berth: a private CA and server certificate in the data directory (instead of certificate and key). */
          auto: flag.optional(),
        })
        .optional(),
      /** registry:2's debug listener: `/debug/health`, Prometheus metrics (and Berth's probes). */
      debug: z
        .object({
          addr: z.string().min(1).optional(),
          prometheus: z.object({ enabled: flag.optional(), path: z.string().startsWith('/').optional() }).optional(),
        })
        .optional(),
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
  policies: z.array(policySchema).optional(),
  notifications: notifications.optional(),
  /** Berth: the audit trail (who did what, when, from where); entries older than `retention` are dropped. */
  audit: z.object({ retention: duration.optional() }).optional(),
  /** Berth: hosted, proxy and group repositories (see repositories.ts). */
  repositories: repositoriesSchema.optional(),
  /** registry:2: the whole registry as a pull-through cache of one upstream. */
  proxy: registry2ProxySchema.optional(),
  /**
   * Where metadata lives. Default: SQLite inside the storage root (Berth's `sqlite.path`). With
   * `enabled`, PostgreSQL, in GitLab's container registry's keys (several replicas share it).
   */
  database: z
    .object({
      sqlite: z.object({ path: z.string().min(1).optional() }).optional(),
      enabled: flag.optional(),
      host: text.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      user: text.optional(),
      password: text.optional(),
      dbname: text.optional(),
      sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
      sslcert: z.string().min(1).optional(),
      sslkey: z.string().min(1).optional(),
      sslrootcert: z.string().min(1).optional(),
      connecttimeout: duration.optional(),
      pool: z
        .object({
          maxopen: z.number().int().positive().optional(),
          maxidle: z.number().int().min(0).optional(),
          maxlifetime: duration.optional(),
          maxidletime: duration.optional(),
        })
        .optional(),
    })
    .optional(),
  /**
   * registry:2's `htpasswd` and `token` sections, plus Berth's own: `accounts` (users and roles in
   * the database), login throttling, the credential cache and the plain-HTTP Basic switch.
   */
  auth: z
    .object({
      htpasswd: z.object({ realm: z.string().min(1).optional(), path: z.string().min(1).optional() }).nullable().optional(),
      token: z
        .object({
          realm: z.string().min(1).optional(),
          service: z.string().min(1).optional(),
          issuer: z.string().min(1).optional(),
          rootcertbundle: z.string().min(1).optional(),
          jwks: z.string().min(1).optional(),
          autoredirect: flag.optional(),
          signingalgorithms: z.array(z.string()).optional(),
          /** Berth: lifetime of issued tokens (default 5m). */
          expiration: duration.optional(),
          /** Berth: lifetime of refresh tokens (default 720h). */
          refreshexpiration: duration.optional(),
          /** Berth: PEM private key (EC P-256 or RSA) of the built-in issuer; default: generated in the data directory. */
          signingkey: z.string().min(1).optional(),
        })
        .nullable()
        .optional(),
      /** Berth: users, roles and permissions in the metadata database. */
      accounts: z.object({ realm: z.string().min(1).optional(), enabled: flag.optional() }).nullable().optional(),
      /**
       * Berth: failed logins of one user name from one address before 429, failed logins of one
       * name from all addresses before it is under attack (default 5 × failures), and the window
       * they are counted in (lockouts double from one window up to 32).
       */
      throttle: z.object({ failures: z.number().int().min(0).optional(), userfailures: z.number().int().min(1).optional(), window: duration.optional() }).optional(),
      /** Berth: how long a verified password is remembered (default 1m; 0 disables). */
      cachettl: duration.optional(),
      /** Berth: accept Basic credentials over plain HTTP on a non-loopback address. */
      allowinsecurebasic: flag.optional(),
      /** Berth: a TLS client certificate (http.tls.clientcas) authenticates its common name as a user. */
      clientcertificates: flag.optional(),
    })
    .nullable()
    .optional(),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;

/**
 * registry:2 sections Berth recognises but does not implement yet, where ignoring one would
 * silently weaken what the operator configured: those stop startup.
 */
export const REFUSED_SECTIONS: Record<string, string> = {};
export const IGNORED_SECTIONS: Record<string, string> = {
  redis: 'Berth does not need Redis for caching',
  validation: 'manifest URL validation is not implemented',
  compatibility: 'schema 1 is not supported',
  reporting: 'error reporting services are not supported',
  middleware: 'storage middleware is not supported',
};

/** Keys present in `value` that the schema does not know, as dotted paths. */
export function findUnknownKeys(schema: z.ZodType, value: unknown, path: string[] = []): string[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodArray && Array.isArray(value)) {
    return value.flatMap((element, index) => findUnknownKeys(inner.element as z.ZodType, element, [...path.slice(0, -1), `${path.at(-1) ?? ''}[${index}]`]));
  }
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
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault || current instanceof z.ZodPipe) {
    if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
      continue;
    }
    current = current.unwrap() as z.ZodType;
  }
  return current;
}
