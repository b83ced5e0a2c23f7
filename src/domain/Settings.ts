// The whole configuration: one Schema over the environment (DESIGN.md §8), its
// documentation table (the source of `manage config --docs`), the rules between
// variables, and the pure decoding into the structured Settings the handlers use.
// Invalid input yields every bad variable at once, the private key's checks
// included; a value appears in a message only when it cannot be a secret. Every
// secret may also come from a file (`<NAME>_FILE`), read by the Settings layer.
import { Duration, Effect, Option, Redacted, Result, Schema, type SchemaIssue } from "effect"
import { type Endpoint } from "./Endpoint.ts"
import { AbsolutePath, BindableIPv4, DnsName, HostList, HostPort, HttpUrl, isLoopback, isUsableAddress, UsableIPv4 } from "./EnvAddress.ts"
import { invalidValue, type Problem, subject } from "./EnvProblems.ts"
import {
  AclToken,
  AclUserName,
  ByteSize,
  GoDuration,
  IntegerBetween,
  KeyId,
  Literal,
  Login,
  MasterName,
  maxKeyBytes,
  NodeName,
  Password,
  Port,
  PrivateKeyText,
  RoleList,
  ServiceName,
  textFlaws,
  type TextRules
} from "./EnvValue.ts"
// Type-only: sshpk is loaded when a key is present (Settings layer), not by every handler.
import type { InspectedKey } from "./MantaKey.ts"
import { type FileRead, type FileToRead, filesToRead, resolveSecretFiles, type SecretFile } from "./SecretFiles.ts"


export type Group = "Consul" | "Node" | "Redis" | "Sentinel" | "TLS" | "Handlers" | "Backups" | "Manta"

export interface VariableDoc {
  readonly group: Group
  /** The raw default, exactly as an operator would write it. */
  readonly default?: string
  /** Shown instead of `default` when the default is derived from other inputs. */
  readonly derivedDefault?: string
  readonly expects: string
  readonly doc: string
  readonly secret?: true
  /**
   * A secret's `<NAME>_FILE` (derived below): the most bytes the file may hold, when
   * not `secretFileBytes`, and what an operator choosing the file must know besides.
   */
  readonly file?: { readonly maxBytes?: number; readonly note?: string }
}

/** Where a node reaches its own Consul agent (CONSUL_AGENT): the agent's default HTTP address. */
const ownAgent = { host: "127.0.0.1", port: 8500 } as const

const cleanPath = "an absolute path without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/'"
const login = "a Triton login: a letter, then 1-63 letters, digits, '_', '.' or '@'"

const declared = {
  CONSUL: {
    group: "Consul",
    default: "consul",
    expects: "a host name or IPv4 address, optionally with :port (1-65535, 8500 when omitted)",
    doc: "Consul agent or server the handlers and ContainerPilot talk to. With CONSUL_AGENT=true: the Consul servers this node's own agent joins, a name that resolves to all of them (`tasks.consul` in the Swarm stack)."
  },
  CONSUL_AGENT: {
    group: "Consul",
    default: "false",
    expects: "true or false",
    doc: "Run a Consul client agent inside this node, joining the servers at CONSUL, and talk to it on 127.0.0.1:8500. A node's registrations and checks then live and die with the node, never with a server: for several hosts (docker-stack.yml sets it)."
  },
  CONSUL_HTTP_TOKEN: {
    group: "Consul",
    expects: "an ACL token: 1-256 visible ASCII characters, no spaces",
    doc: "Sent as X-Consul-Token on every Consul call.",
    secret: true,
    file: {
      note: "ContainerPilot 3.8 takes its own token only from CONSUL_HTTP_TOKEN: with the file alone, its registrations and checks go without one (fine where the agent's default token allows them)."
    }
  },
  CONSUL_HTTP_SSL: {
    group: "Consul",
    default: "false",
    expects: "true or false",
    doc: "Talk to Consul over HTTPS (`manage` and ContainerPilot alike), verifying its certificate against CONSUL_CACERT or the system's CAs. Give CONSUL its HTTPS port (8501 by convention)."
  },
  CONSUL_CACERT: {
    group: "Consul",
    expects: "an absolute path without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/'",
    doc: "The PEM file of the CA that signed Consul's certificate, when CONSUL_HTTP_SSL is true (the consul CLI's variable, which ContainerPilot reads too)."
  },
  CONSUL_TLS_SERVER_NAME: {
    group: "Consul",
    expects: "a DNS name of at most 253 characters",
    doc: "The name Consul's certificate is checked against instead of CONSUL's host, when CONSUL_HTTP_SSL is true: `server.dc1.consul` for the certificates `consul tls cert create -server` makes."
  },
  LOG_LEVEL: { group: "Handlers", default: "info", expects: "debug, info, warn or error (any case)", doc: "Handler log level." },
  LOG_FORMAT: { group: "Handlers", default: "text", expects: "text or json (any case)", doc: "Handler log format (logfmt or JSON lines on stderr), also for the last line of a failed run." },
  SERVICE_NAME: {
    group: "Consul",
    default: "redis",
    expects: "2-54 lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (ContainerPilot's job names, and `<name>-sentinel` stays a DNS label)",
    doc: "Prefix of every Consul service and key: `<name>`, `<name>-replica`, `<name>-sentinel`, `service/<name>/…`."
  },
  MASTER_NAME: {
    group: "Sentinel",
    default: "mymaster",
    expects: "1-64 letters, digits, '.', '_' or '-'",
    doc: "The name Sentinel monitors the master under; clients ask Sentinel for it."
  },
  HOSTNAME: {
    group: "Node",
    derivedDefault: "the container's hostname",
    expects: "1-253 letters, digits, '.', '_' or '-', starting with a letter or digit",
    doc: "This node's name. ContainerPilot registers services as `<job>-<hostname>`."
  },
  ANNOUNCE_IP: {
    group: "Node",
    derivedDefault: "`CONTAINERPILOT_<SERVICE_NAME>_IP`, else the first non-loopback IPv4",
    expects: "an IPv4 address peers can reach: not in 0.0.0.0/8, multicast (224.0.0.0/4) or 240.0.0.0/4 (which holds the broadcast address)",
    doc: "The address this node's Redis and Sentinel announce to the cluster."
  },
  BIND_ADDRESS: {
    group: "Node",
    default: "0.0.0.0",
    expects: "0.0.0.0 or an IPv4 address of this node (as ANNOUNCE_IP: not 0.0.0.0/8, multicast or 240.0.0.0/4), and 0.0.0.0 or that address itself when the announced address is a loopback address",
    doc: "Address Redis and Sentinel listen on."
  },
  API_PORT: {
    group: "Node",
    default: "8008",
    expects: "a TCP port (1-65535) other than REDIS_PORT and SENTINEL_PORT",
    doc: "Port of the node agent's read-only HTTP API (`/master`, `/replica`, `/sentinel`, `/health`, `/status`, `/metrics`), on BIND_ADDRESS; the health checks ask it."
  },
  PEERS: {
    group: "Node",
    expects: "comma-separated host names or IPv4 addresses, no ports and no spaces, at most 1024 characters",
    doc: "The other nodes, beyond Consul: a name stands for every IPv4 address it resolves to (compose resolves the service name to every container of the service, Swarm `tasks.<service>`). Pre-start probes each at REDIS_PORT and asks its Sentinel at SENTINEL_PORT, so a node started while Consul is empty joins the live cluster instead of founding a second one."
  },
  REDIS_PORT: { group: "Redis", default: "6379", expects: "a TCP port (1-65535) other than SENTINEL_PORT and API_PORT", doc: "Redis port." },
  SENTINEL_PORT: { group: "Sentinel", default: "26379", expects: "a TCP port (1-65535) other than REDIS_PORT and API_PORT", doc: "Sentinel port." },
  REDIS_PASSWORD: {
    group: "Redis",
    expects: "1-1024 printable characters, no spaces, quotes or control characters (Sentinel writes it back into sentinel.conf unquoted)",
    doc: "Protects Redis and Sentinel alike: `requirepass` and `masterauth` in redis.conf, `requirepass`, `sentinel sentinel-pass` and `auth-pass` in sentinel.conf, so clients must also give it to Sentinel (ioredis `sentinelPassword`). Strongly recommended: without it anyone on the network can read and write Redis and tell Sentinel to fail over.",
    secret: true
  },
  REDIS_PASSWORD_ACCEPTED: {
    group: "Redis",
    expects: "1-1024 printable characters, no spaces, quotes or control characters",
    doc: "A second password Redis and Sentinel accept besides REDIS_PASSWORD (and, with REDIS_APP_PASSWORD, the replication and Sentinel passwords derived from it), while `manage`, replication and Sentinel keep using REDIS_PASSWORD: for changing REDIS_PASSWORD without downtime (README, Security). Needs REDIS_PASSWORD.",
    secret: true
  },
  REDIS_APP_PASSWORD: {
    group: "Redis",
    expects: "1-1024 printable characters, no spaces, quotes or control characters",
    doc: "Turns on least-privilege Redis users (README, Security): applications log in as REDIS_APP_USER with this password, to Redis and to Sentinel, and can read and write but run no admin or dangerous command; REDIS_PASSWORD becomes the password of the `manage` user (everything, for `manage` and the operator); replication and Sentinel get users of their own (`replication`, `sentinel`) with passwords derived from REDIS_PASSWORD; the default user is off. Needs REDIS_PASSWORD.",
    secret: true
  },
  REDIS_APP_PASSWORD_ACCEPTED: {
    group: "Redis",
    expects: "1-1024 printable characters, no spaces, quotes or control characters",
    doc: "A second password of REDIS_APP_USER, accepted beside REDIS_APP_PASSWORD: for moving applications to a new one without downtime (README, Security). Needs REDIS_APP_PASSWORD.",
    secret: true
  },
  REDIS_APP_USER: {
    group: "Redis",
    default: "app",
    expects: "1-64 letters, digits, '_' or '-', not default, manage, replication or sentinel",
    doc: "The applications' Redis and Sentinel user; used only with REDIS_APP_PASSWORD."
  },
  REDIS_MIN_REPLICAS_TO_WRITE: {
    group: "Redis",
    default: "0",
    expects: "an integer from 0 to 100",
    doc: "The least `min-replicas-to-write` a master runs with: with fewer replicas in sync it refuses writes (NOREPLICAS). Whatever this says, the agent raises it to 1 while the master has a replica in sync, so Redis alone fences a master cut off from its replicas should the agent die (see FENCE_AFTER); a number above 1 trades availability for copies."
  },
  REDIS_MIN_REPLICAS_MAX_LAG: {
    group: "Redis",
    default: "5s",
    expects: "whole seconds from 1s to 1h",
    doc: "`min-replicas-max-lag`: a replica counts as in sync while it acknowledged within this (replicas acknowledge every second). Bounds how long a master cut off from its replicas acknowledges writes when its agent is dead; below SENTINEL_DOWN_AFTER (2s, say) that ends before Sentinel promotes another node."
  },
  FENCE_AFTER: {
    group: "Redis",
    derivedDefault: "2s, or half of SENTINEL_DOWN_AFTER when that is shorter",
    expects: "0s (no fencing) or a duration from 100ms to 1h, shorter than SENTINEL_DOWN_AFTER",
    doc: "A master its agent has not seen named by a majority of the sentinels for this long (cut off, or its Sentinel majority lost) refuses writes (`-NOREPLICAS`, never a hang) until they name it again; one the sentinels name another node than refuses them at once. Writes it acknowledged after a partition are then thrown away only within this window. A one-node cluster is never fenced. `0s` turns fencing off."
  },
  REDIS_REPL_BACKLOG_SIZE: {
    group: "Redis",
    default: "64mb",
    expects: "a size as redis.conf writes one (bytes, or with k, kb, m, mb, g or gb), from 1mb to 16gb",
    doc: "`repl-backlog-size`: the writes a master keeps for replicas that come back. A replica that was away (a restart, an upgrade, a partition) for less than this many bytes of writes copies only those; one away longer copies the whole dataset. Redis 7 takes the memory only as writes fill it. Redis's own default, 1mb, is a few seconds of a busy master."
  },
  REPLICA_PRIORITY: {
    group: "Redis",
    default: "100",
    expects: "an integer from 0 to 2147483647",
    doc: "This node's `replica-priority`: when the master fails, Sentinel promotes the replica with the lowest non-zero priority (then the most data); 0 means never promoted (e.g. a node on weaker hardware, or one kept for backups). Shown by `manage status` and `manage list`. While the cluster is paused (`manage pause`) every replica runs at 0 and its agent restores this value on resume."
  },
  SENTINEL_QUORUM: {
    group: "Sentinel",
    default: "2",
    expects: "an integer from 1 to 100",
    doc: "Sentinels that must agree the master is down. A failover also needs a majority of all sentinels. Consul KV `service/<name>-sentinel/quorum` overrides it."
  },
  SENTINEL_DOWN_AFTER: {
    group: "Sentinel",
    default: "5s",
    expects: "a duration from 100ms to 10m",
    doc: "`down-after-milliseconds`: silence before a master is considered down. Consul KV `…/down-after` overrides it."
  },
  SENTINEL_FAILOVER_TIMEOUT: {
    group: "Sentinel",
    default: "30s",
    expects: "a duration from 1s to 1h",
    doc: "`failover-timeout`. Consul KV `…/failover-timeout` overrides it."
  },
  SENTINEL_PARALLEL_SYNCS: {
    group: "Sentinel",
    default: "1",
    expects: "an integer from 1 to 100",
    doc: "`parallel-syncs`: replicas re-syncing with a new master at once."
  },
  TLS_CERT_FILE: {
    group: "TLS",
    expects: "an absolute path without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/'",
    doc: "This node's certificate (PEM). With TLS_KEY_FILE and TLS_CA_FILE it turns TLS on for every link: Redis and Sentinel serve TLS only (no plaintext port), replication and Sentinel speak TLS to Redis and to each other, and every `manage` program connects with TLS, presenting this certificate. Redis reads the files at start: renew them in place and restart the node (see Security)."
  },
  TLS_KEY_FILE: {
    group: "TLS",
    expects: "an absolute path without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/'",
    doc: "The private key of TLS_CERT_FILE (PEM), readable by the redis user."
  },
  TLS_CA_FILE: {
    group: "TLS",
    expects: "an absolute path without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/'",
    doc: "The CA certificates (PEM) every node's certificate is checked against, by Redis, Sentinel and `manage`; clients need it too."
  },
  TLS_AUTH_CLIENTS: {
    group: "TLS",
    default: "no",
    expects: "no, optional or yes",
    doc: "Whether a client must present a certificate the CA signed (`tls-auth-clients`): `no` (TLS with a password, as most clients connect), `optional`, `yes`. Nodes always present theirs."
  },
  MASTER_WAIT_TIMEOUT: {
    group: "Handlers",
    default: "60s",
    expects: "a duration from 1s to 1h",
    doc: "How long pre-start waits for a master to appear (another node bootstrapping, or Sentinel promoting a replica) before it fails and the container restarts."
  },
  FOUNDING_GRACE: {
    group: "Handlers",
    default: "20s",
    expects: "a duration from 0s to 30m, at most half of MASTER_WAIT_TIMEOUT",
    doc: "How long a node with an empty data directory watches for a node holding data before it founds a cluster that held data (its Consul record or a stored backup says so), restoring the newest backup. Counted from when the node announced itself in Consul; a cluster that never held data is founded at once. Pre-start gives up after MASTER_WAIT_TIMEOUT and starts over, grace included, so the grace must end well before: unset, it is 20s or half of MASTER_WAIT_TIMEOUT, whichever is shorter."
  },
  DATA_DIR: { group: "Redis", default: "/data", expects: cleanPath, doc: "Redis data directory (`dir`)." },
  CONFIG_DIR: {
    group: "Redis",
    default: "/etc/redis",
    expects: cleanPath,
    doc: "Where pre-start writes `redis.conf`, `sentinel.conf` and the failover script. Sentinel must be able to rewrite it."
  },
  HEALTH_INTERVAL: {
    group: "Handlers",
    default: "5",
    expects: "whole seconds from 1 to 300 (ContainerPilot reads an integer)",
    doc: "Interval of the health checks."
  },
  HEALTH_TTL: {
    group: "Handlers",
    default: "15",
    expects: "whole seconds, greater than HEALTH_INTERVAL, at most 3600",
    doc: "TTL of the Consul checks the health checks feed."
  },
  HEALTH_TIMEOUT: {
    group: "Handlers",
    default: "4s",
    expects: "a duration from 500ms up to HEALTH_INTERVAL",
    doc: "Deadline of one health check; the handlers answer within it even when Redis or Consul hangs."
  },
  PRESTART_TIMEOUT: {
    group: "Handlers",
    default: "10m",
    expects: "a duration from 10s to 24h, longer than MASTER_WAIT_TIMEOUT",
    doc: "ContainerPilot kills pre-start after this; it bounds a restore."
  },
  PRESTOP_TIMEOUT: {
    group: "Handlers",
    default: "15s",
    expects: "a duration from 1s to 10m",
    doc: "Bound of pre-stop's handover to a replica. Compose's stop_grace_period must exceed it."
  },
  BACKUP_STORE: {
    group: "Backups",
    derivedDefault: "`manta` when MANTA_USER is set, else `local`",
    expects: "manta, local or none",
    doc: "Where backups go and restores come from."
  },
  BACKUP_INTERVAL: {
    group: "Backups",
    default: "24h",
    expects: "a duration from 1m to 8760h",
    doc: "A backup is due when the newest one is older than this."
  },
  BACKUP_CHECK_INTERVAL: {
    group: "Backups",
    default: "5m",
    expects: "a duration from 10s to 24h",
    doc: "How often ContainerPilot runs `manage backup` to see whether one is due."
  },
  BACKUP_TIMEOUT: {
    group: "Backups",
    default: "30m",
    expects: "a duration from 1m to 24h",
    doc: "ContainerPilot kills a backup run after this; nothing half-written becomes visible."
  },
  BACKUP_STALL_TIMEOUT: {
    group: "Backups",
    default: "60s",
    expects: "a duration from 1s to 1h, shorter than BACKUP_TIMEOUT and PRESTART_TIMEOUT",
    doc: "A Manta upload or download fails once no byte moved for this long (after the last byte, Manta's answer must come within it too); otherwise only BACKUP_TIMEOUT (backups) and PRESTART_TIMEOUT (restores) bound a transfer. Above Manta's own 45 s upload idle limit, so its verdict arrives first while the connection still works."
  },
  BACKUP_KEEP: { group: "Backups", default: "7", expects: "an integer from 1 to 1000", doc: "Verified backups kept; older ones are pruned." },
  BACKUP_DIR: {
    group: "Backups",
    default: "/backups",
    expects: cleanPath,
    doc: "Directory of the `local` store, e.g. a volume shared by all nodes."
  },
  MANTA_URL: {
    group: "Manta",
    default: "https://us-central.manta.mnx.io",
    expects: "http:// or https:// with a host name or IPv4 address and an optional :port (1-65535), nothing after it and no user:password@",
    doc: "Manta endpoint."
  },
  MANTA_USER: { group: "Manta", expects: login, doc: "Manta account." },
  MANTA_SUBUSER: { group: "Manta", expects: login, doc: "Manta subuser, when the key belongs to one." },
  MANTA_ROLE: { group: "Manta", expects: "comma-separated role names of letters, digits, '.', '_' or '-', no spaces", doc: "Manta roles to assume." },
  MANTA_KEY_ID: {
    group: "Manta",
    expects: "MANTA_PRIVATE_KEY's fingerprint as `ssh-keygen -l` prints it: MD5 aa:bb:… (16 pairs, MD5: prefix optional) or SHA256:…",
    doc: "Checked against the key with the rest of the environment."
  },
  MANTA_PRIVATE_KEY: {
    group: "Manta",
    expects: "one unencrypted RSA (at least 2048 bits), ECDSA or ed25519 private key in PEM or OpenSSH format, at most 16 KiB, its newlines written as '#' (as setup-env writes it) or kept",
    doc: "Signs every Manta request. `manage setup-env --key` writes it.",
    secret: true,
    file: { maxBytes: maxKeyBytes }
  },
  MANTA_BUCKET: {
    group: "Manta",
    derivedDefault: "`/<MANTA_USER>/stor/<SERVICE_NAME>`",
    expects: "/<MANTA_USER>/stor or a directory below it, without quotes, backslashes, '.' or '..' parts, '//' or a trailing '/' (never /public: backups hold the data)",
    doc: "Manta directory holding the backups."
  }
} as const satisfies Record<string, VariableDoc>

type Declared = typeof declared

/** The variables marked `secret`; each may also come from a file. */
export type SecretName = { [K in keyof Declared]: Declared[K] extends { readonly secret: true } ? K : never }[keyof Declared]
export type SecretFileName = `${SecretName}_FILE`

/** A secret's `<NAME>_FILE` entry. */
export interface SecretFileDoc extends VariableDoc {
  /** A larger file is refused unread. */
  readonly maxBytes: number
}

/** Room for the longest password or token (1024 characters) in UTF-8, and no more. */
const secretFileBytes = 4 * 1024

const secretNames: ReadonlySet<string> = new Set(Object.entries(declared).flatMap(([name, doc]) => ("secret" in doc ? [name] : [])))
const isSecretName = (name: string): name is SecretName => secretNames.has(name)

const secretFileDoc = (name: SecretName, secret: VariableDoc): SecretFileDoc => {
  const maxBytes = secret.file?.maxBytes ?? secretFileBytes
  return {
    group: secret.group,
    expects: `the path of a regular file of at most ${maxBytes / 1024} KiB holding the value (trailing line breaks dropped), not together with ${name}`,
    doc: [`The value of ${name} read from this file (Docker and Swarm secrets: /run/secrets/${name.toLowerCase()}).`, ...(secret.file?.note === undefined ? [] : [secret.file.note])].join(" "),
    maxBytes
  }
}

type SecretFiles = { readonly [K in SecretFileName]: SecretFileDoc }

/** Each secret's `<NAME>_FILE` right after it, derived from the flag: a secret added later gets one. */
const assembled: Readonly<Record<string, VariableDoc>> = Object.fromEntries(
  Object.entries(declared).flatMap(([name, doc]): ReadonlyArray<readonly [string, VariableDoc]> =>
    isSecretName(name) ? [[name, doc], [`${name}_FILE`, secretFileDoc(name, doc)]] : [[name, doc]]
  )
)

/** What the table's type says, checked rather than asserted: every declared variable, and each secret's file. */
const isWholeTable = (table: Readonly<Record<string, VariableDoc>>): table is Declared & SecretFiles =>
  Object.entries(declared).every(([name, doc]) => table[name] === doc && (!isSecretName(name) || table[`${name}_FILE`] !== undefined))

const wholeTable = (table: Readonly<Record<string, VariableDoc>>): Declared & SecretFiles => {
  if (isWholeTable(table)) return table
  // Unreachable (`assembled` is built from `declared` just above); a table that lied
  // about its entries would misreport every environment.
  throw new Error("the variables table lacks a declared variable or a secret's _FILE")
}

/** Every variable: the declared ones, each secret followed by its `<NAME>_FILE`. */
export const variables: Declared & SecretFiles = wholeTable(assembled)

export type VariableName = keyof typeof variables

/** The secrets that may come from a file, in table order, with what the file must be. */
export const secretFiles: ReadonlyArray<SecretFile> = [...secretNames].filter(isSecretName).map((secret) => {
  const file: SecretFileName = `${secret}_FILE`
  return { secret, file, maxBytes: variables[file].maxBytes, expects: variables[file].expects }
})

type DefaultedName = { [K in VariableName]: (typeof variables)[K] extends { readonly default: string } ? K : never }[VariableName]

const defaulted = <S extends Schema.Codec<unknown, string>>(name: DefaultedName, schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(variables[name].default)))

const optional = <S extends Schema.Codec<unknown, string>>(schema: S) => Schema.optionalKey(schema)

const LogFormat = Literal("text", "json")

/** The environment, variable by variable, each value normalised. */
export const Environment = Schema.Struct({
  CONSUL: defaulted("CONSUL", HostPort(8500)),
  CONSUL_AGENT: defaulted("CONSUL_AGENT", Literal("true", "false")),
  CONSUL_HTTP_TOKEN: optional(AclToken),
  CONSUL_HTTP_SSL: defaulted("CONSUL_HTTP_SSL", Literal("true", "false")),
  CONSUL_CACERT: optional(AbsolutePath),
  CONSUL_TLS_SERVER_NAME: optional(DnsName),
  LOG_LEVEL: defaulted("LOG_LEVEL", Literal("debug", "info", "warn", "error")),
  LOG_FORMAT: defaulted("LOG_FORMAT", LogFormat),
  SERVICE_NAME: defaulted("SERVICE_NAME", ServiceName),
  MASTER_NAME: defaulted("MASTER_NAME", MasterName),
  HOSTNAME: optional(NodeName),
  ANNOUNCE_IP: optional(UsableIPv4),
  BIND_ADDRESS: defaulted("BIND_ADDRESS", BindableIPv4),
  API_PORT: defaulted("API_PORT", Port),
  PEERS: optional(HostList),
  REDIS_PORT: defaulted("REDIS_PORT", Port),
  SENTINEL_PORT: defaulted("SENTINEL_PORT", Port),
  REDIS_PASSWORD: optional(Password),
  REDIS_PASSWORD_ACCEPTED: optional(Password),
  REDIS_APP_PASSWORD: optional(Password),
  REDIS_APP_PASSWORD_ACCEPTED: optional(Password),
  REDIS_APP_USER: defaulted("REDIS_APP_USER", AclUserName),
  REDIS_MIN_REPLICAS_TO_WRITE: defaulted("REDIS_MIN_REPLICAS_TO_WRITE", IntegerBetween(0, 100)),
  REDIS_MIN_REPLICAS_MAX_LAG: defaulted(
    "REDIS_MIN_REPLICAS_MAX_LAG",
    GoDuration({ min: Duration.seconds(1), max: Duration.hours(1) }).check(
      Schema.makeFilter((d: Duration.Duration) => Duration.toMillis(d) % 1000 === 0)
    )
  ),
  FENCE_AFTER: optional(
    GoDuration({ min: Duration.zero, max: Duration.hours(1) }).check(
      Schema.makeFilter((d: Duration.Duration) => Duration.isZero(d) || Duration.toMillis(d) >= 100)
    )
  ),
  REDIS_REPL_BACKLOG_SIZE: defaulted("REDIS_REPL_BACKLOG_SIZE", ByteSize({ min: 1_048_576, max: 16 * 1_073_741_824 })),
  REPLICA_PRIORITY: defaulted("REPLICA_PRIORITY", IntegerBetween(0, 2_147_483_647)),
  SENTINEL_QUORUM: defaulted("SENTINEL_QUORUM", IntegerBetween(1, 100)),
  SENTINEL_DOWN_AFTER: defaulted("SENTINEL_DOWN_AFTER", GoDuration({ min: Duration.millis(100), max: Duration.minutes(10) })),
  SENTINEL_FAILOVER_TIMEOUT: defaulted("SENTINEL_FAILOVER_TIMEOUT", GoDuration({ min: Duration.seconds(1), max: Duration.hours(1) })),
  SENTINEL_PARALLEL_SYNCS: defaulted("SENTINEL_PARALLEL_SYNCS", IntegerBetween(1, 100)),
  TLS_CERT_FILE: optional(AbsolutePath),
  TLS_KEY_FILE: optional(AbsolutePath),
  TLS_CA_FILE: optional(AbsolutePath),
  TLS_AUTH_CLIENTS: defaulted("TLS_AUTH_CLIENTS", Literal("no", "optional", "yes")),
  MASTER_WAIT_TIMEOUT: defaulted("MASTER_WAIT_TIMEOUT", GoDuration({ min: Duration.seconds(1), max: Duration.hours(1) })),
  FOUNDING_GRACE: defaulted("FOUNDING_GRACE", GoDuration({ min: Duration.zero, max: Duration.minutes(30) })),
  DATA_DIR: defaulted("DATA_DIR", AbsolutePath),
  CONFIG_DIR: defaulted("CONFIG_DIR", AbsolutePath),
  HEALTH_INTERVAL: defaulted("HEALTH_INTERVAL", IntegerBetween(1, 300)),
  HEALTH_TTL: defaulted("HEALTH_TTL", IntegerBetween(2, 3600)),
  HEALTH_TIMEOUT: defaulted("HEALTH_TIMEOUT", GoDuration({ min: Duration.millis(500), max: Duration.minutes(5) })),
  PRESTART_TIMEOUT: defaulted("PRESTART_TIMEOUT", GoDuration({ min: Duration.seconds(10), max: Duration.hours(24) })),
  PRESTOP_TIMEOUT: defaulted("PRESTOP_TIMEOUT", GoDuration({ min: Duration.seconds(1), max: Duration.minutes(10) })),
  BACKUP_STORE: optional(Literal("manta", "local", "none")),
  BACKUP_INTERVAL: defaulted("BACKUP_INTERVAL", GoDuration({ min: Duration.minutes(1), max: Duration.hours(8760) })),
  BACKUP_CHECK_INTERVAL: defaulted("BACKUP_CHECK_INTERVAL", GoDuration({ min: Duration.seconds(10), max: Duration.hours(24) })),
  BACKUP_TIMEOUT: defaulted("BACKUP_TIMEOUT", GoDuration({ min: Duration.minutes(1), max: Duration.hours(24) })),
  BACKUP_STALL_TIMEOUT: defaulted("BACKUP_STALL_TIMEOUT", GoDuration({ min: Duration.seconds(1), max: Duration.hours(1) })),
  BACKUP_KEEP: defaulted("BACKUP_KEEP", IntegerBetween(1, 1000)),
  BACKUP_DIR: defaulted("BACKUP_DIR", AbsolutePath),
  MANTA_URL: defaulted("MANTA_URL", HttpUrl),
  MANTA_USER: optional(Login),
  MANTA_SUBUSER: optional(Login),
  MANTA_ROLE: optional(RoleList),
  MANTA_KEY_ID: optional(KeyId),
  MANTA_PRIVATE_KEY: optional(PrivateKeyText),
  MANTA_BUCKET: optional(AbsolutePath)
})
export type Environment = typeof Environment.Type

export type LogLevel = Environment["LOG_LEVEL"]

export type BackupTarget =
  | { readonly _tag: "none" }
  | { readonly _tag: "local"; readonly dir: string }
  | {
    readonly _tag: "manta"
    readonly url: string
    readonly user: string
    readonly subuser: Option.Option<string>
    readonly roles: ReadonlyArray<string>
    readonly keyId: Option.Option<string>
    readonly privateKey: Redacted.Redacted<string>
    readonly directory: string
  }

export interface Settings {
  readonly node: { readonly name: string; readonly address: string; readonly bindAddress: string; readonly apiPort: number }
  readonly consul: {
    readonly host: string
    readonly port: number
    readonly token: Option.Option<Redacted.Redacted<string>>
    /** HTTPS, with the CA to verify Consul's certificate against (None: the system's CAs) and the name it must bear (None: the host's). */
    readonly https: Option.Option<{ readonly caFile: Option.Option<string>; readonly ca: Option.Option<string>; readonly serverName: Option.Option<string> }>
  }
  /** TLS on every Redis and Sentinel link (TLS_*_FILE); None: plaintext. */
  readonly tls: Option.Option<Tls>
  readonly log: { readonly level: LogLevel; readonly format: "text" | "json" }
  readonly serviceName: string
  readonly masterName: string
  readonly redis: {
    readonly port: number
    readonly password: Option.Option<Redacted.Redacted<string>>
    /** Also accepted, never sent (REDIS_PASSWORD_ACCEPTED): rotation. */
    readonly accepted: Option.Option<Redacted.Redacted<string>>
    /** Least-privilege users on (REDIS_APP_PASSWORD): the applications' user; REDIS_PASSWORD is then `manage`'s. */
    readonly app: Option.Option<{
      readonly user: string
      readonly password: Redacted.Redacted<string>
      readonly accepted: Option.Option<Redacted.Redacted<string>>
    }>
    readonly minReplicasToWrite: number
    readonly minReplicasMaxLag: Duration.Duration
    /** FENCE_AFTER: a master unconfirmed this long refuses writes; None: never fenced. */
    readonly fenceAfter: Option.Option<Duration.Duration>
    /** `replica-priority`: 0 = never promoted by Sentinel. */
    readonly replicaPriority: number
    /** `repl-backlog-size` in bytes: what a replica away for less copies alone. */
    readonly replBacklogSize: number
  }
  readonly sentinel: {
    readonly port: number
    readonly quorum: number
    readonly downAfter: Duration.Duration
    readonly failoverTimeout: Duration.Duration
    readonly parallelSyncs: number
  }
  readonly masterWaitTimeout: Duration.Duration
  /** Hosts or DNS names of the other nodes, beyond Consul (PEERS). */
  readonly peers: ReadonlyArray<string>
  /** How long an empty node watches for a data holder before founding a cluster that held data. */
  readonly foundingGrace: Duration.Duration
  readonly dataDir: string
  readonly configDir: string
  readonly health: { readonly interval: Duration.Duration; readonly ttl: Duration.Duration; readonly timeout: Duration.Duration }
  readonly preStopTimeout: Duration.Duration
  readonly backup: {
    readonly target: BackupTarget
    readonly interval: Duration.Duration
    readonly keep: number
    /** A transfer fails after this long without a byte moving (the Manta store's watchdog). */
    readonly stallTimeout: Duration.Duration
  }
}

/**
 * The files Redis and Sentinel are told to read, and what they held when this run
 * read them, for `manage`'s own connections (a handler reads them at each run, the
 * agent at its start: a renewed certificate is picked up as Redis picks it up).
 */
export interface Tls {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
  readonly authClients: "no" | "optional" | "yes"
  readonly cert: string
  readonly key: Redacted.Redacted<string>
  readonly ca: string
}

/** What decoding needs from the host besides the environment. */
export interface HostFacts {
  readonly hostname: string
  /** Non-loopback IPv4 addresses of this host, in interface order. */
  readonly ipv4: ReadonlyArray<string>
}

/** This node's Redis, as the rest of the cluster reaches it. */
export const selfRedis = (s: Settings): Endpoint => ({ host: s.node.address, port: s.redis.port })
/** This node's Sentinel. */
export const selfSentinel = (s: Settings): Endpoint => ({ host: s.node.address, port: s.sentinel.port })
/** This node's agent API, as a process on this node reaches it (all interfaces: loopback). */
export const selfApi = (s: Settings): Endpoint => ({ host: s.node.bindAddress === "0.0.0.0" ? "127.0.0.1" : s.node.bindAddress, port: s.node.apiPort })

/** Parses MANTA_PRIVATE_KEY's text; `inspectPrivateKey` from MantaKey.ts, loaded only when a key is set. */
export type KeyInspector = (text: string) => Result.Result<InspectedKey, string>

const isSecret = (name: string): boolean => name in variables && "secret" in variables[name as VariableName]

const expectation = (name: string): string => (name in variables ? variables[name as VariableName].expects : "a valid value")

const lineRules: TextRules = { maxLength: 1024 }
const keyRules: TextRules = { maxLength: 16 * 1024 + 512, multiline: true }

/** `shownAs`: the variable the value was given in, `<NAME>_FILE` for a secret read from a file. */
const invalid = (name: string, raw: string, shownAs: string = name): Problem =>
  invalidValue(shownAs, raw, {
    secret: isSecret(name),
    flaws: textFlaws(raw, name === "MANTA_PRIVATE_KEY" ? keyRules : lineRules),
    expects: expectation(name)
  })

const failedVariables = (issue: SchemaIssue.Issue, into: Set<string>): Set<string> => {
  switch (issue._tag) {
    case "Pointer": {
      const [head] = issue.path
      if (typeof head === "string") into.add(head)
      else failedVariables(issue.issue, into)
      break
    }
    case "Composite":
    case "AnyOf":
      for (const inner of issue.issues) failedVariables(inner, into)
      break
    case "Filter":
    case "Encoding":
      failedVariables(issue.issue, into)
      break
    default:
      break
  }
  return into
}

/**
 * Empty values count as unset: `_env` files and compose often carry `VAR=`. Only
 * empty: ContainerPilot's `default` replaces only an empty string, so a blank value
 * would reach its configuration, and a blank REDIS_PASSWORD is not "no password".
 */
const present = (env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of Object.keys(variables)) {
    const raw = env[name]
    if (raw !== undefined && raw !== "") out[name] = raw
  }
  return out
}

interface CrossProblem extends Problem {
  /** Every variable the rule reads; the rule is skipped when one of them is itself invalid. */
  readonly involves: ReadonlyArray<VariableName>
}

const crossChecks = (e: Environment, raw: Record<string, string>, address: Option.Option<string>): ReadonlyArray<CrossProblem> => {
  const problems: Array<CrossProblem> = []
  const bad = (variable: VariableName, involves: ReadonlyArray<VariableName>, expected: string) =>
    problems.push({ variable, involves, message: `${subject(variable, raw[variable], isSecret(variable))}: expected ${expected}` })
  // Every port this node listens on. Of two equal ones, the one the operator set is
  // named (SENTINEL_PORT=8008 collides with API_PORT's default); of two set, the later.
  const ports = ["REDIS_PORT", "SENTINEL_PORT", "API_PORT"] as const
  const blamed = new Set<VariableName>()
  ports.forEach((first, i) => {
    for (const second of ports.slice(i + 1)) {
      const [named, kept] = raw[second] !== undefined ? [second, first] : [first, second]
      if (e[first] === e[second] && !blamed.has(named)) {
        blamed.add(named)
        bad(named, [first, second], `a port other than ${kept}'s (${e[kept]}): both listen on this node`)
      }
    }
  })
  // A loopback address announced is reachable only on this host, and only if something
  // listens on it. (The reverse, binding loopback behind a proxy that forwards the
  // announced address, can work, so it is allowed.)
  if (Option.isSome(address) && isLoopback(address.value) && e.BIND_ADDRESS !== "0.0.0.0" && e.BIND_ADDRESS !== address.value) {
    bad("BIND_ADDRESS", ["BIND_ADDRESS", "ANNOUNCE_IP"], `0.0.0.0 or the announced loopback address ${address.value}, which nothing would listen on`)
  }
  if (e.HEALTH_TTL <= e.HEALTH_INTERVAL) {
    bad("HEALTH_TTL", ["HEALTH_TTL", "HEALTH_INTERVAL"], `whole seconds greater than HEALTH_INTERVAL (${e.HEALTH_INTERVAL})`)
  }
  if (Duration.toMillis(e.HEALTH_TIMEOUT) > e.HEALTH_INTERVAL * 1000) {
    bad("HEALTH_TIMEOUT", ["HEALTH_TIMEOUT", "HEALTH_INTERVAL"], `at most HEALTH_INTERVAL (${e.HEALTH_INTERVAL}s)`)
  }
  // Pre-start restarts after MASTER_WAIT_TIMEOUT, and the grace with it: a grace that
  // does not end well before would never end. The rest is left for taking the lock
  // (up to its lock-delay after a crashed founder) and founding.
  if (raw["FOUNDING_GRACE"] !== undefined && Duration.toMillis(e.FOUNDING_GRACE) * 2 > Duration.toMillis(e.MASTER_WAIT_TIMEOUT)) {
    bad("FOUNDING_GRACE", ["FOUNDING_GRACE", "MASTER_WAIT_TIMEOUT"], `at most half of MASTER_WAIT_TIMEOUT (${raw["MASTER_WAIT_TIMEOUT"] ?? variables.MASTER_WAIT_TIMEOUT.default})`)
  }
  // Half a TLS setup would leave some links in plaintext or some nodes unable to talk.
  const tlsFiles = ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"] as const
  const tlsGiven = tlsFiles.filter((v) => e[v] !== undefined)
  if (tlsGiven.length > 0 && tlsGiven.length < tlsFiles.length) {
    for (const v of tlsFiles.filter((x) => e[x] === undefined)) {
      problems.push({ variable: v, involves: [...tlsFiles], message: `${v} is not set: TLS needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE together (${tlsGiven.join(", ")} set)` })
    }
  }
  // The ACL users' passwords derive from REDIS_PASSWORD, and `manage` logs in with it.
  if (e.REDIS_APP_PASSWORD !== undefined && e.REDIS_PASSWORD === undefined) {
    problems.push({ variable: "REDIS_PASSWORD", involves: ["REDIS_PASSWORD", "REDIS_APP_PASSWORD"], message: "REDIS_PASSWORD is not set: required when REDIS_APP_PASSWORD is (it becomes the manage user's password)" })
  }
  // A second accepted password is a step of a rotation: without the first there is nothing to rotate.
  for (const [accepted, main] of [["REDIS_PASSWORD_ACCEPTED", "REDIS_PASSWORD"], ["REDIS_APP_PASSWORD_ACCEPTED", "REDIS_APP_PASSWORD"]] as const) {
    if (e[accepted] !== undefined && e[main] === undefined) {
      problems.push({ variable: accepted, involves: [accepted, main], message: `${accepted} needs ${main}: it is accepted beside it` })
    }
  }
  // The node's own agent joins its servers on their gossip port and is asked over
  // loopback in plain HTTP: a port or HTTPS for CONSUL would be silently ignored.
  if (e.CONSUL_AGENT === "true" && raw["CONSUL"]?.includes(":") === true) bad("CONSUL", ["CONSUL", "CONSUL_AGENT"], "a host without a port with CONSUL_AGENT=true (the agent joins the servers on their gossip port)")
  if (e.CONSUL_AGENT === "true" && e.CONSUL_HTTP_SSL === "true") bad("CONSUL_HTTP_SSL", ["CONSUL_HTTP_SSL", "CONSUL_AGENT"], "false with CONSUL_AGENT=true (this node's own agent is asked over loopback)")
  for (const variable of ["CONSUL_CACERT", "CONSUL_TLS_SERVER_NAME"] as const) {
    if (e[variable] !== undefined && e.CONSUL_HTTP_SSL !== "true") bad(variable, [variable, "CONSUL_HTTP_SSL"], "to be set only with CONSUL_HTTP_SSL=true")
  }
  // A fence that closes only after Sentinel may have promoted another node would let
  // the old master acknowledge writes the new one never sees.
  if (e.FENCE_AFTER !== undefined && !Duration.isZero(e.FENCE_AFTER) && Duration.isGreaterThanOrEqualTo(e.FENCE_AFTER, e.SENTINEL_DOWN_AFTER)) {
    bad("FENCE_AFTER", ["FENCE_AFTER", "SENTINEL_DOWN_AFTER"], `0s or shorter than SENTINEL_DOWN_AFTER (${raw["SENTINEL_DOWN_AFTER"] ?? variables.SENTINEL_DOWN_AFTER.default})`)
  }
  if (Duration.isLessThanOrEqualTo(e.PRESTART_TIMEOUT, e.MASTER_WAIT_TIMEOUT)) {
    bad("PRESTART_TIMEOUT", ["PRESTART_TIMEOUT", "MASTER_WAIT_TIMEOUT"], "longer than MASTER_WAIT_TIMEOUT")
  }
  // A watchdog at or beyond the job's own timeout would never fire: the job is killed
  // first. Only an explicit value is refused; the default simply yields to a short job.
  for (const outer of ["BACKUP_TIMEOUT", "PRESTART_TIMEOUT"] as const) {
    if (raw["BACKUP_STALL_TIMEOUT"] !== undefined && Duration.isGreaterThanOrEqualTo(e.BACKUP_STALL_TIMEOUT, e[outer])) {
      bad("BACKUP_STALL_TIMEOUT", ["BACKUP_STALL_TIMEOUT", outer], `shorter than ${outer} (${raw[outer] ?? variables[outer].default})`)
      break
    }
  }
  if (backupStoreOf(e) === "manta") {
    const involves: ReadonlyArray<VariableName> = ["BACKUP_STORE", "MANTA_USER"]
    const when = e.BACKUP_STORE === "manta" ? "BACKUP_STORE=manta" : "MANTA_USER is set"
    for (const variable of ["MANTA_USER", "MANTA_PRIVATE_KEY"] as const) {
      // An invalid value was dropped before this check: it is reported as invalid, not as unset.
      if (e[variable] === undefined) problems.push({ variable, involves: [...involves, variable], message: `${variable} is not set: required when ${when}` })
    }
    const stor = `/${e.MANTA_USER ?? ""}/stor`
    if (e.MANTA_USER !== undefined && e.MANTA_BUCKET !== undefined && e.MANTA_BUCKET !== stor && !e.MANTA_BUCKET.startsWith(`${stor}/`)) {
      bad("MANTA_BUCKET", ["MANTA_BUCKET", "MANTA_USER"], `${stor} or a directory below it`)
    }
  }
  return problems
}

/**
 * MANTA_PRIVATE_KEY must be a key Manta accepts and MANTA_KEY_ID, when set, its
 * fingerprint: checked here, with everything else, rather than at the first backup.
 */
const keyChecks = (e: Environment, raw: Record<string, string>, inspectKey: KeyInspector, keyGivenAs: string): ReadonlyArray<CrossProblem> => {
  if (backupStoreOf(e) !== "manta" || e.MANTA_PRIVATE_KEY === undefined) return []
  const key = inspectKey(e.MANTA_PRIVATE_KEY)
  if (Result.isFailure(key)) {
    return [{ variable: keyGivenAs, involves: ["MANTA_PRIVATE_KEY"], message: `${subject(keyGivenAs, raw.MANTA_PRIVATE_KEY, true)}: ${key.failure}` }]
  }
  const { fingerprintMd5, fingerprintSha256 } = key.success
  if (e.MANTA_KEY_ID === undefined || e.MANTA_KEY_ID === fingerprintMd5 || e.MANTA_KEY_ID === fingerprintSha256) return []
  // A fingerprint is public, so both the given one and the key's are shown.
  return [{
    variable: "MANTA_KEY_ID",
    involves: ["MANTA_KEY_ID", "MANTA_PRIVATE_KEY"],
    message: `MANTA_KEY_ID=${JSON.stringify(e.MANTA_KEY_ID)}: does not match MANTA_PRIVATE_KEY, whose fingerprints are ${fingerprintMd5} and ${fingerprintSha256}`
  }]
}

const backupStoreOf = (e: Environment): "manta" | "local" | "none" =>
  e.BACKUP_STORE ?? (e.MANTA_USER !== undefined ? "manta" : "local")

const announceIpOf = (e: Environment, env: Readonly<Record<string, string | undefined>>, host: HostFacts): Option.Option<string> => {
  if (e.ANNOUNCE_IP !== undefined) return Option.some(e.ANNOUNCE_IP)
  // ContainerPilot exports the IP it advertises for each job as CONTAINERPILOT_<JOB>_IP.
  const fromContainerPilot = env[`CONTAINERPILOT_${e.SERVICE_NAME.toUpperCase().replaceAll("-", "_")}_IP`]
  if (fromContainerPilot !== undefined && isUsableAddress(fromContainerPilot)) return Option.some(fromContainerPilot)
  return Option.fromNullishOr(host.ipv4.find(isUsableAddress))
}

const redacted = (value: string | undefined): Option.Option<Redacted.Redacted<string>> =>
  value === undefined ? Option.none() : Option.some(Redacted.make(value))

/** An explicit grace is checked against MASTER_WAIT_TIMEOUT; the default shrinks to fit it. */
const foundingGraceOf = (e: Environment, raw: Record<string, string>): Duration.Duration =>
  raw["FOUNDING_GRACE"] !== undefined ? e.FOUNDING_GRACE : Duration.min(e.FOUNDING_GRACE, Duration.millis(Math.floor(Duration.toMillis(e.MASTER_WAIT_TIMEOUT) / 2)))

/** 2 s by default, and never as long as Sentinel's down-after: the old master must stop before a new one starts. */
const fenceAfterOf = (e: Environment): Option.Option<Duration.Duration> => {
  if (e.FENCE_AFTER !== undefined) return Duration.isZero(e.FENCE_AFTER) ? Option.none() : Option.some(e.FENCE_AFTER)
  return Option.some(Duration.min(Duration.seconds(2), Duration.millis(Math.floor(Duration.toMillis(e.SENTINEL_DOWN_AFTER) / 2))))
}

const toSettings = (e: Environment, raw: Record<string, string>, address: string, hostname: string, pems: ReadonlyMap<PemVariable, string>): Settings => {
  const store = backupStoreOf(e)
  const target: BackupTarget = store === "none"
    ? { _tag: "none" }
    : store === "local"
    ? { _tag: "local", dir: e.BACKUP_DIR }
    : {
      _tag: "manta",
      url: e.MANTA_URL,
      user: e.MANTA_USER ?? "",
      subuser: Option.fromUndefinedOr(e.MANTA_SUBUSER),
      roles: e.MANTA_ROLE === undefined ? [] : e.MANTA_ROLE.split(","),
      keyId: Option.fromUndefinedOr(e.MANTA_KEY_ID),
      privateKey: Redacted.make(e.MANTA_PRIVATE_KEY ?? ""),
      directory: e.MANTA_BUCKET ?? `/${e.MANTA_USER ?? ""}/stor/${e.SERVICE_NAME}`
    }
  return {
    node: { name: hostname, address, bindAddress: e.BIND_ADDRESS, apiPort: e.API_PORT },
    consul: {
      ...(e.CONSUL_AGENT === "true" ? ownAgent : e.CONSUL),
      token: redacted(e.CONSUL_HTTP_TOKEN),
      https: e.CONSUL_HTTP_SSL === "true"
        ? Option.some({
          caFile: Option.fromUndefinedOr(e.CONSUL_CACERT),
          ca: Option.fromUndefinedOr(pems.get("CONSUL_CACERT")),
          serverName: Option.fromUndefinedOr(e.CONSUL_TLS_SERVER_NAME)
        })
        : Option.none()
    },
    tls: e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined && e.TLS_CA_FILE !== undefined
      ? Option.some({
        certFile: e.TLS_CERT_FILE,
        keyFile: e.TLS_KEY_FILE,
        caFile: e.TLS_CA_FILE,
        authClients: e.TLS_AUTH_CLIENTS,
        cert: pems.get("TLS_CERT_FILE") ?? "",
        key: Redacted.make(pems.get("TLS_KEY_FILE") ?? ""),
        ca: pems.get("TLS_CA_FILE") ?? ""
      })
      : Option.none(),
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    serviceName: e.SERVICE_NAME,
    masterName: e.MASTER_NAME,
    redis: {
      port: e.REDIS_PORT,
      password: redacted(e.REDIS_PASSWORD),
      accepted: redacted(e.REDIS_PASSWORD_ACCEPTED),
      app: e.REDIS_APP_PASSWORD === undefined
        ? Option.none()
        : Option.some({ user: e.REDIS_APP_USER, password: Redacted.make(e.REDIS_APP_PASSWORD), accepted: redacted(e.REDIS_APP_PASSWORD_ACCEPTED) }),
      minReplicasToWrite: e.REDIS_MIN_REPLICAS_TO_WRITE,
      minReplicasMaxLag: e.REDIS_MIN_REPLICAS_MAX_LAG,
      fenceAfter: fenceAfterOf(e),
      replicaPriority: e.REPLICA_PRIORITY,
      replBacklogSize: e.REDIS_REPL_BACKLOG_SIZE
    },
    sentinel: {
      port: e.SENTINEL_PORT,
      quorum: e.SENTINEL_QUORUM,
      downAfter: e.SENTINEL_DOWN_AFTER,
      failoverTimeout: e.SENTINEL_FAILOVER_TIMEOUT,
      parallelSyncs: e.SENTINEL_PARALLEL_SYNCS
    },
    masterWaitTimeout: e.MASTER_WAIT_TIMEOUT,
    peers: e.PEERS ?? [],
    foundingGrace: foundingGraceOf(e, raw),
    dataDir: e.DATA_DIR,
    configDir: e.CONFIG_DIR,
    health: {
      interval: Duration.seconds(e.HEALTH_INTERVAL),
      ttl: Duration.seconds(e.HEALTH_TTL),
      timeout: e.HEALTH_TIMEOUT
    },
    preStopTimeout: e.PRESTOP_TIMEOUT,
    backup: { target, interval: e.BACKUP_INTERVAL, keep: e.BACKUP_KEEP, stallTimeout: e.BACKUP_STALL_TIMEOUT }
  }
}

const usableNodeName = (name: string): boolean => Result.isSuccess(Schema.decodeUnknownResult(NodeName)(name))

/**
 * PEM files `manage` reads for its own connections besides naming them to Redis or
 * ContainerPilot: checked at start like any variable, so a missing or wrong file is
 * exit 2 from pre-start, not a node whose every connection fails.
 */
const pemFiles = {
  TLS_CERT_FILE: { holds: "a certificate", marker: /-----BEGIN CERTIFICATE-----/ },
  TLS_KEY_FILE: { holds: "a private key", marker: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/ },
  TLS_CA_FILE: { holds: "a certificate", marker: /-----BEGIN CERTIFICATE-----/ },
  CONSUL_CACERT: { holds: "a certificate", marker: /-----BEGIN CERTIFICATE-----/ }
} as const
type PemVariable = keyof typeof pemFiles
const pemVariables = Object.keys(pemFiles) as ReadonlyArray<PemVariable>

/** A CA bundle can hold a few hundred certificates (the system's is ~200 KiB). */
const maxPemBytes = 1024 * 1024

/** The `<NAME>_FILE`s and PEM files the environment names, to be read before decoding (by the Settings layer). */
export const secretFilesToRead = (env: Readonly<Record<string, string | undefined>>): ReadonlyArray<FileToRead> => {
  const given = present(env)
  return [
    ...filesToRead(given, secretFiles),
    ...pemVariables.flatMap((file) => given[file] === undefined ? [] : [{ file, path: given[file], maxBytes: maxPemBytes }])
  ]
}

/** What each PEM variable's file holds, or why it is not usable (a problem naming the variable and the path, never the content). */
const readPems = (
  e: Environment,
  reads: ReadonlyMap<string, FileRead>
): { readonly pems: ReadonlyMap<PemVariable, string>; readonly problems: ReadonlyArray<CrossProblem> } => {
  const pems = new Map<PemVariable, string>()
  const problems: Array<CrossProblem> = []
  for (const variable of pemVariables) {
    const path = e[variable]
    if (path === undefined) continue
    const { holds, marker } = pemFiles[variable]
    const read = reads.get(variable) ?? Result.fail("was not read")
    const refuse = (why: string) => problems.push({ variable, involves: [variable], message: `${variable}=${JSON.stringify(path)}: ${why}, expected a PEM file holding ${holds}` })
    if (Result.isFailure(read)) refuse(read.failure)
    else if (!marker.test(read.success)) refuse(`holds no PEM ${holds.replace(/^an? /, "")}`)
    else pems.set(variable, read.success)
  }
  return { pems, problems }
}

const nothingRead: ReadonlyMap<string, FileRead> = new Map()

/**
 * Decodes the environment into Settings, or lists every problem (one per variable,
 * in table order, then the rules between variables and the key's checks). A value
 * appears only when it cannot be a secret (EnvProblems.ts). `reads` holds what
 * reading each file of `secretFilesToRead` gave; a secret's value from its file is
 * checked as the variable's own, its problems named after the file variable.
 */
export const decodeSettings = (
  env: Readonly<Record<string, string | undefined>>,
  host: HostFacts,
  inspectKey: KeyInspector,
  reads: ReadonlyMap<string, FileRead> = nothingRead
): Result.Result<Settings, ReadonlyArray<Problem>> => {
  const secrets = resolveSecretFiles(present(env), secretFiles, reads)
  const raw = secrets.env
  const shownAs = (name: string): string => secrets.fromFile.get(name) ?? name
  const decode = Schema.decodeUnknownResult(Environment)
  const first = decode(raw, { errors: "all" })
  const bad = Result.isFailure(first) ? failedVariables(first.failure.issue, new Set()) : new Set<string>()
  // Cross-variable rules still run when some values are bad: against a decode where
  // the bad ones are dropped, skipping rules that read a bad one or an unusable secret.
  const valid = Object.fromEntries(Object.entries(raw).filter(([name]) => !bad.has(name)))
  const e = Result.isSuccess(first) ? Result.succeed(first.success) : decode(valid)
  // A secret's file follows it in the table, so its problems follow the secret's.
  const problems: Array<Problem> = Object.keys(variables).flatMap((name) => [
    ...(bad.has(name) ? [invalid(name, raw[name] ?? "", shownAs(name))] : []),
    ...secrets.problems.filter((p) => p.variable === name)
  ])
  if (Result.isFailure(e)) {
    return Result.fail(problems.length > 0 ? problems : [{ variable: "environment", message: "could not be decoded" }])
  }
  const address = announceIpOf(e.success, env, host)
  const { pems, problems: pemProblems } = readPems(e.success, reads)
  for (const p of [...crossChecks(e.success, raw, address), ...keyChecks(e.success, raw, inspectKey, shownAs("MANTA_PRIVATE_KEY")), ...pemProblems]) {
    if (!p.involves.some((name) => bad.has(name) || secrets.unusable.has(name))) problems.push({ variable: p.variable, message: p.message })
  }
  if (Option.isNone(address) && !bad.has("ANNOUNCE_IP")) {
    problems.push({ variable: "ANNOUNCE_IP", message: "ANNOUNCE_IP is not set and this host has no usable non-loopback IPv4 address to default to" })
  }
  const name = e.success.HOSTNAME ?? host.hostname
  if (!usableNodeName(name) && !bad.has("HOSTNAME")) {
    problems.push({ variable: "HOSTNAME", message: `HOSTNAME is not set and this host's name is not usable: expected ${expectation("HOSTNAME")}` })
  }
  if (problems.length > 0 || Option.isNone(address)) return Result.fail(problems)
  return Result.succeed(toSettings(e.success, raw, address.value, name, pems))
}

/** LOG_FORMAT by itself, `text` when unset or invalid (the rest of the environment may be invalid too). */
export const logFormatOf = (env: Readonly<Record<string, string | undefined>>): "text" | "json" => {
  const decoded = Schema.decodeUnknownResult(LogFormat)(env.LOG_FORMAT)
  return Result.isSuccess(decoded) && decoded.success === "json" ? "json" : "text"
}
