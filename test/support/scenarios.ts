// Named scenario builders for the domain tests (STYLE.md "Tests"): what pre-start
// observes (`noMaster()`, `masterAt("10.0.0.5")`, `afterFailover(...)`), decoded
// Settings over a given environment, and backup manifests. Plain data only: no
// layers, no effects. This node is always SELF (10.0.0.1) unless a test says otherwise.
import { Option, Result } from "effect"
import { type Manifest } from "../../src/domain/Backup.ts"
import { type Endpoint, endpoint } from "../../src/domain/Endpoint.ts"
import { type Candidate, type History } from "../../src/domain/Founding.ts"
import { type LockState, type ProbedRole, type RoleObservation } from "../../src/domain/RoleDecision.ts"
import { inspectPrivateKey } from "../../src/domain/MantaKey.ts"
import { formatProblems } from "../../src/domain/EnvProblems.ts"
import { type FileRead } from "../../src/domain/SecretFiles.ts"
import { decodeSettings, type HostFacts, type Settings } from "../../src/domain/Settings.ts"

export const REDIS_PORT = 6379
/** This node's advertised address in every role scenario. */
export const SELF = "10.0.0.1"

/** A Redis endpoint on the standard port. */
export const at = (host: string, port: number = REDIS_PORT): Endpoint => endpoint(host, port)

// ---------------------------------------------------------------------------
// Role observations

export type Tweak = (o: RoleObservation) => RoleObservation

/** FOUNDING_GRACE in every role scenario unless a test says otherwise. */
export const GRACE_MS = 20_000

const nothingKnown = (self: Endpoint): RoleObservation => ({
  self,
  sentinelReports: [],
  registeredMasters: [],
  probes: [],
  lock: { _tag: "Free" },
  localData: false,
  founding: {
    node: "node-1",
    lastWrite: Option.none(),
    others: [],
    seenHolders: [],
    history: { _tag: "NeverHeldData", evidence: "Consul holds no record of it and the backup store holds no backup" },
    lastMaster: Option.none(),
    watchedMs: 0,
    graceMs: GRACE_MS
  }
})

const apply = (o: RoleObservation, tweaks: ReadonlyArray<Tweak>): RoleObservation => tweaks.reduce((acc, t) => t(acc), o)

/** A fresh container at SELF: no sentinel, registration or peer knows a master; lock free; empty data dir. */
export const noMaster = (...tweaks: ReadonlyArray<Tweak>): RoleObservation => apply(nothingKnown(at(SELF)), tweaks)

/** A healthy cluster whose master is `host`: three sentinels report it, Consul lists it, it answers ROLE master. */
export const masterAt = (host: string, ...tweaks: ReadonlyArray<Tweak>): RoleObservation =>
  noMaster(sentinelsReport(host, host, host), registeredMaster(host), answersMaster(host), ...tweaks)

/**
 * Sentinel moved the master from `from` to `to`: the sentinels agree on `to`, which
 * answers as master; `from` is silent but its registration has not lapsed yet.
 */
export const afterFailover = (from: string, to: string, ...tweaks: ReadonlyArray<Tweak>): RoleObservation =>
  noMaster(sentinelsReport(to, to, to), registeredMaster(from), silent(from), answersMaster(to), ...tweaks)

/** One passing sentinel per argument, reporting that host as master (null: no answer / unknown name). */
export const sentinelsReport = (...reports: ReadonlyArray<string | null>): Tweak => (o) => ({
  ...o,
  sentinelReports: [...o.sentinelReports, ...reports.map((h) => (h === null ? Option.none() : Option.some(at(h))))]
})

const probe = (host: string, role: ProbedRole): Tweak => (o) => ({ ...o, probes: [...o.probes, { endpoint: at(host), role }] })

export const answersMaster = (host: string): Tweak => probe(host, { _tag: "Master" })
export const answersReplicaOf = (host: string, master: string): Tweak => probe(host, { _tag: "Replica", master: at(master) })
/** The node was asked ROLE and did not answer. */
export const silent = (host: string): Tweak => probe(host, { _tag: "Unreachable" })

/** Consul lists `host` as a passing `redis` (master) instance. */
export const registeredMaster = (host: string): Tweak => (o) => ({ ...o, registeredMasters: [...o.registeredMasters, at(host)] })

export const lockFree: LockState = { _tag: "Free" }
export const lockHeldBySelf: LockState = { _tag: "HeldBySelf" }
export const lockHeldBy = (holder: string): LockState => ({ _tag: "HeldByOther", holder })
export const withLock = (lock: LockState): Tweak => (o) => ({ ...o, lock })

/** The data directory holds a dataset (appendonlydir/, appendonly.aof or dump.rdb), last written at `lastWrite` (epoch ms). */
export const withData = (lastWrite?: number): Tweak => (o) => ({
  ...o,
  localData: true,
  founding: { ...o.founding, lastWrite: Option.fromUndefinedOr(lastWrite) }
})
export const emptyDataDir = (): Tweak => (o) => ({ ...o, localData: false, founding: { ...o.founding, lastWrite: Option.none() } })

// ---------------------------------------------------------------------------
// Founding: the starting nodes, the cluster's past, the watch so far

/** A starting node `node-<n>` at 10.0.0.<n>: `"empty"`, or holding data last written at the given epoch ms. */
export const candidate = (n: number, data: "empty" | number): Candidate => ({
  node: `node-${n}`,
  endpoint: at(`10.0.0.${n}`),
  data: data === "empty" ? { _tag: "Empty" } : { _tag: "Held", lastWrite: Option.some(data) }
})

/** These nodes announced themselves and are starting now. */
export const announced = (...cs: ReadonlyArray<Candidate>): Tweak => (o) => ({ ...o, founding: { ...o.founding, others: [...o.founding.others, ...cs] } })

/** These data holders were announced earlier in this start (they may be gone now). */
export const sawEarlier = (...cs: ReadonlyArray<Candidate>): Tweak => (o) => ({ ...o, founding: { ...o.founding, seenHolders: [...o.founding.seenHolders, ...cs] } })

export const heldDataBefore = (evidence = "its record in Consul says so"): Tweak => (o) => ({ ...o, founding: { ...o.founding, history: { _tag: "HeldData", evidence } satisfies History } })

/** This node has watched for data holders this long since its announcement. */
export const watchedFor = (ms: number): Tweak => (o) => ({ ...o, founding: { ...o.founding, watchedMs: ms } })

/** The cluster's record names `node-<n>` at 10.0.0.<n> as the last master seen. */
export const lastMasterWas = (n: number): Tweak => (o) => ({
  ...o,
  founding: { ...o.founding, lastMaster: Option.some({ node: `node-${n}`, endpoint: at(`10.0.0.${n}`) }) }
})

// ---------------------------------------------------------------------------
// Settings

export const hostFacts: HostFacts = { hostname: "node-1", ipv4: [SELF] }

/** Settings decoded from `env` (empty: every default), or a thrown error listing the problems. */
/** PEM texts as the Settings layer reads them, for TLS_*_FILE and CONSUL_CACERT set to any path. */
export const pemCertificate = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
export const pemKey = "-----BEGIN PRIVATE KEY-----\nMIIEtestkeybody\n-----END PRIVATE KEY-----\n"
export const pemReads: ReadonlyMap<string, FileRead> = new Map([
  ["TLS_CERT_FILE", Result.succeed(pemCertificate)],
  ["TLS_KEY_FILE", Result.succeed(pemKey)],
  ["TLS_CA_FILE", Result.succeed(pemCertificate)],
  ["CONSUL_CACERT", Result.succeed(pemCertificate)]
])

export const settingsFrom = (env: Readonly<Record<string, string>> = {}, host: HostFacts = hostFacts): Settings => {
  const decoded = decodeSettings(env, host, inspectPrivateKey, pemReads)
  if (Result.isFailure(decoded)) throw new Error(formatProblems(decoded.failure))
  return decoded.success
}

// ---------------------------------------------------------------------------
// Backups

export const sha256Of = (c: string): string => c.repeat(64)

/** A valid manifest of a backup taken at `createdAt`. */
export const manifestAt = (createdAt: string, overrides: Partial<Manifest> = {}): Manifest => ({
  id: `redis-${createdAt.replace(/\.\d+Z$/, "Z").replaceAll(":", "").replaceAll("-", "")}-node-2`,
  createdAt,
  node: "node-2",
  bytes: 1024,
  sha256: sha256Of("a"),
  store: "local",
  path: "redis-backup.rdb.gz",
  redisVersion: "7.0.15",
  ...overrides
})
