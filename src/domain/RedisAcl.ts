// Least-privilege Redis and Sentinel users (REDIS_APP_PASSWORD turns them on): who
// may do what, as the `user` lines of redis.conf and sentinel.conf. Every password is
// written as its SHA-256 (`#<hex>`), never in clear, but for the two a node itself
// must send (masterauth, Sentinel's auth-pass and sentinel-pass): those are derived
// from REDIS_PASSWORD, so a node needs no secret beyond the ones it is given and an
// application never learns them.
import { createHash, createHmac } from "node:crypto"
import { Option, Redacted } from "effect"
import { type Settings } from "./Settings.ts"

/** `manage` and the operator: every command, key and channel. */
export const manageUser = "manage"
/** A replica logging in to its master (masteruser). */
export const replicationUser = "replication"
/** A sentinel logging in to Redis (auth-user) and to its peers (sentinel-user). */
export const sentinelUser = "sentinel"

/** What a replica sends while replicating: nothing else, no key, no channel. */
const replicationRules = "resetchannels -@all +psync +sync +replconf +ping"

/**
 * Sentinel's documented minimal ACL on a monitored Redis (redis.io, "Sentinel
 * ACL"): what it reads (INFO, ROLE), how it reconfigures (SLAVEOF, CONFIG
 * REWRITE, CLIENT KILL after a switch, SCRIPT KILL of a busy script) and its hello
 * channel. No key, no CONFIG SET, no FLUSHALL.
 */
const sentinelOnRedisRules =
  "allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"

/**
 * Applications: every key and channel, every command but administration and the
 * dangerous ones (CONFIG, SHUTDOWN, REPLICAOF, FLUSHALL, FLUSHDB, KEYS, DEBUG,
 * MONITOR, …); INFO and ROLE stay, as clients check a server with them.
 */
const appOnRedisRules = "~* &* +@all -@admin -@dangerous +info +role"

/**
 * Applications on Sentinel: find the master and the replicas, follow a switch, nothing
 * that changes Sentinel (no SENTINEL FAILOVER, SET, REMOVE, CONFIG).
 */
const appOnSentinelRules =
  "&* -@all +ping +hello +auth +client|setname +client|getname +role +info +subscribe +psubscribe +unsubscribe +punsubscribe " +
  "+sentinel|get-master-addr-by-name +sentinel|master +sentinel|masters +sentinel|replicas +sentinel|slaves +sentinel|sentinels"

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** The same on every node given the same REDIS_PASSWORD; tells nothing about it. */
const derived = (password: string, purpose: string): string => createHmac("sha256", password).update(`autopilot-redis ${purpose}`).digest("hex")

export interface AclSetup {
  /** `user` lines of redis.conf (the default user off). */
  readonly redisUsers: ReadonlyArray<string>
  /** `user` lines of sentinel.conf. */
  readonly sentinelUsers: ReadonlyArray<string>
  /** What a replica logs in to its master with. */
  readonly replication: { readonly user: string; readonly password: Redacted.Redacted<string> }
  /** What a sentinel logs in to Redis and to its peers with. */
  readonly sentinel: { readonly user: string; readonly password: Redacted.Redacted<string> }
}

/** A user that logs in with any of `passwords` (each written as its SHA-256). */
const user = (name: string, passwords: ReadonlyArray<string>, rules: string): string =>
  `user ${name} reset on ${[...new Set(passwords)].map((p) => `#${sha256(p)}`).join(" ")} ${rules}`

/** REDIS_PASSWORD, then REDIS_PASSWORD_ACCEPTED (a rotation's other half) when set. */
const adminPasswords = (s: Settings): ReadonlyArray<string> =>
  [...Option.toArray(s.redis.password), ...Option.toArray(s.redis.accepted)].map(Redacted.value)

/** The users, when REDIS_APP_PASSWORD (with REDIS_PASSWORD) turns them on. */
export const aclSetup = (s: Settings): Option.Option<AclSetup> => {
  if (Option.isNone(s.redis.app) || Option.isNone(s.redis.password)) return Option.none()
  const admin = adminPasswords(s)
  const app = s.redis.app.value
  const appPasswords = [app.password, ...Option.toArray(app.accepted)].map(Redacted.value)
  // Accepted: derived from either password; sent: derived from REDIS_PASSWORD alone.
  const sent = Redacted.value(s.redis.password.value)
  const replicationPasswords = admin.map((p) => derived(p, replicationUser))
  const sentinelPasswords = admin.map((p) => derived(p, sentinelUser))
  const manage = user(manageUser, admin, "~* &* +@all")
  return Option.some({
    redisUsers: [
      "user default reset off",
      manage,
      user(replicationUser, replicationPasswords, replicationRules),
      user(sentinelUser, sentinelPasswords, sentinelOnRedisRules),
      user(app.user, appPasswords, appOnRedisRules)
    ],
    sentinelUsers: [
      "user default reset off",
      manage,
      // Peers exchange hellos, votes and state: Sentinel's own protocol, nothing more to withhold.
      user(sentinelUser, sentinelPasswords, "~* &* +@all"),
      user(app.user, appPasswords, appOnSentinelRules)
    ],
    replication: { user: replicationUser, password: Redacted.make(derived(sent, replicationUser)) },
    sentinel: { user: sentinelUser, password: Redacted.make(derived(sent, sentinelUser)) }
  })
}

/**
 * Without ACL users, a second accepted password needs the default user's own line
 * (`requirepass` holds one): None when there is none to accept.
 */
export const defaultUserAccepting = (s: Settings): Option.Option<string> =>
  Option.isSome(s.redis.accepted) && Option.isSome(s.redis.password) && Option.isNone(s.redis.app)
    ? Option.some(user("default", adminPasswords(s), "~* &* +@all"))
    : Option.none()

/** The user `manage` logs in as: `manage` with ACL users, else the default user (None). */
export const loginUser = (s: Settings): Option.Option<string> => Option.map(s.redis.app, () => manageUser)
