// Backups (DESIGN.md §7) as data and decisions: the manifest recorded in Consul, how
// backups are named, whether one is due, which node takes it, what to prune, and when
// a starting node restores. The programs carry these out.
import { DateTime, Duration, Option, Schema } from "effect"
import { compareEndpoints, type Endpoint, formatEndpoint } from "./Endpoint.ts"

export const Manifest = Schema.Struct({
  id: Schema.String,
  createdAt: Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)),
  node: Schema.String,
  /** Size of the stored (compressed) object. */
  bytes: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** sha256 of the stored (compressed) object, hex. */
  sha256: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)),
  store: Schema.Literals(["manta", "local"]),
  /** Object path inside the store. */
  path: Schema.String,
  redisVersion: Schema.String
})
export type Manifest = typeof Manifest.Type

export const ManifestFromJson = Schema.fromJsonString(Manifest)

/** `20261124T190557123Z`: milliseconds, so two backups of one node never share a name. */
const stamp = (now: DateTime.Utc): string => DateTime.formatIso(now).replaceAll(":", "").replaceAll("-", "").replace(".", "")

/** `<service>-20261124T190557123Z-<node>`: names sort by time, so pruning needs no metadata. */
export const backupId = (serviceName: string, now: DateTime.Utc, node: string): string =>
  `${serviceName}-${stamp(now)}-${node.replace(/[^A-Za-z0-9_.-]/g, "_")}`

export const backupFileName = (id: string): string => `${id}.rdb.gz`

/**
 * The manifest is also stored beside the backup, so a brand-new cluster (an empty
 * Consul) still finds the newest verified backup and its checksum in the store.
 */
export const manifestFileName = (id: string): string => `${id}.manifest.json`

/** The newest stored manifest of this service, by name (names sort by time). */
export const newestManifestName = (serviceName: string, stored: ReadonlyArray<string>): Option.Option<string> =>
  Option.fromUndefinedOr(stored.filter((name) => ownManifest(serviceName).test(name)).sort().at(-1))

const ownManifest = (serviceName: string) => new RegExp(`^${serviceName.replace(/[.-]/g, "\\$&")}-\\d{8}T\\d{6}(\\d{3})?Z-.+\\.manifest\\.json$`)

const ownBackup = (serviceName: string) => new RegExp(`^${serviceName.replace(/[.-]/g, "\\$&")}-\\d{8}T\\d{6}(\\d{3})?Z-.+\\.rdb\\.gz$`)

export interface Due {
  readonly due: boolean
  readonly reason: string
}

export const isBackupDue = (input: {
  readonly manifest: Option.Option<Manifest>
  readonly now: DateTime.Utc
  readonly interval: Duration.Duration
  readonly forced: boolean
}): Due => {
  if (input.forced) return { due: true, reason: "requested with --now" }
  if (Option.isNone(input.manifest)) return { due: true, reason: "no backup recorded yet" }
  const taken = DateTime.make(input.manifest.value.createdAt)
  if (Option.isNone(taken)) return { due: true, reason: "the recorded backup has an unreadable date" }
  const age = DateTime.distance(taken.value, input.now)
  // A node with a fast clock may have dated it ahead; waiting for real time to catch
  // up could mean no backup for as long as the skew.
  if (Duration.isLessThan(age, Duration.zero)) {
    return { due: true, reason: `newest backup ${input.manifest.value.id} is dated in the future (${input.manifest.value.createdAt})` }
  }
  return Duration.isGreaterThanOrEqualTo(age, input.interval)
    ? { due: true, reason: `newest backup ${input.manifest.value.id} is ${Duration.format(age)} old` }
    : { due: false, reason: `newest backup ${input.manifest.value.id} is ${Duration.format(age)} old, due after ${Duration.format(input.interval)}` }
}

export type LocalRole = "master" | "replica" | "unavailable"

/**
 * One backup at a time, taken on a healthy replica when one exists so the master
 * does not fork under load. Among replicas, the one with the lowest address (numerically: 10.0.0.9 before 10.0.0.10) takes it,
 * so replicas do not all race for the lock every check.
 */
export const electBackupNode = (input: {
  readonly self: Endpoint
  readonly role: LocalRole
  readonly healthyReplicas: ReadonlyArray<Endpoint>
}): Due => {
  const sorted = [...input.healthyReplicas].sort(compareEndpoints)
  const first = sorted[0]
  switch (input.role) {
    case "unavailable":
      return { due: false, reason: "local Redis is not answering as a healthy master or replica" }
    case "master":
      return first === undefined
        ? { due: true, reason: "master with no healthy replica" }
        : { due: false, reason: `the healthy replica ${formatEndpoint(first)} takes backups` }
    case "replica":
      return first !== undefined && formatEndpoint(first) === formatEndpoint(input.self)
        ? { due: true, reason: "first healthy replica" }
        : { due: false, reason: `${first === undefined ? "no healthy replica is registered yet" : `the healthy replica ${formatEndpoint(first)} takes backups`}` }
  }
}

/**
 * Stored objects of this service's backups beyond the newest `keep` (each backup is
 * its `.rdb.gz` and its `.manifest.json`); the one just recorded is never pruned.
 */
export const backupsToPrune = (input: {
  readonly serviceName: string
  readonly stored: ReadonlyArray<string>
  readonly keep: number
  readonly newest: string
}): ReadonlyArray<string> => {
  const old = input.stored
    .filter((name) => ownBackup(input.serviceName).test(name))
    .sort()
    .reverse()
    .slice(input.keep)
    .filter((name) => name !== input.newest)
  const manifests = new Set(old.map((name) => manifestFileName(name.replace(/\.rdb\.gz$/, ""))))
  return [...old, ...input.stored.filter((name) => manifests.has(name))]
}

/**
 * Restore only when founding a cluster (no master anywhere), with an empty data
 * directory, and a verified backup on record; existing data always wins.
 */
export const restorePlan = (input: {
  readonly founding: boolean
  readonly localData: boolean
  readonly manifest: Option.Option<Manifest>
  readonly storeConfigured: boolean
}): Option.Option<Manifest> =>
  input.founding && !input.localData && input.storeConfigured ? input.manifest : Option.none()
