// Every fixed timing the handlers use, each with the reason for its value (STYLE.md).
// Operator-tunable timings (Sentinel's down-after, MASTER_WAIT_TIMEOUT, health
// intervals) live in Settings; these are the ones an operator should never need.
import { Context, Duration } from "effect"

export interface Timings {
  /** One Redis or Sentinel command, connect included: loopback or a LAN answers in ms; a silent peer must not eat a health check's budget. */
  readonly redisCommand: Duration.Duration
  /** One Consul HTTP call: the agent answers in ms; 1 s leaves room for two tries inside a 4 s health check. */
  readonly consulCall: Duration.Duration
  /** First delay of the retry Schedule for a retryable Consul/Redis failure. */
  readonly retryBase: Duration.Duration
  /** Retries of a Consul call that failed on the way: a one-shot handler has this one run to get an answer. */
  readonly consulRetries: number
  /** Likewise for Redis and Sentinel commands. */
  readonly redisRetries: number
  /** Bootstrap-lock session TTL: Consul invalidates only after 2×TTL, so a crashed winner frees the lock within 30 s. 10 s is Consul's minimum. */
  readonly lockSessionTtl: Duration.Duration
  /** Lock-delay after the winner's session is invalidated: long enough for the winner's Redis to appear as master before anyone else may found. */
  readonly lockDelay: Duration.Duration
  /** How often pre-start renews the bootstrap session while it restores: TTL/3 survives two lost renewals. */
  readonly lockRenewEvery: Duration.Duration
  /** Delay between observations while waiting for a master or a promotion (bounded by MASTER_WAIT_TIMEOUT). */
  readonly roleRetryEvery: Duration.Duration
  /** One DNS lookup of a PEERS name: Docker's embedded DNS answers in ms; a dead resolver must not eat pre-start's wait. */
  readonly dnsLookup: Duration.Duration
  /** Backup lock session TTL; renewed while the upload runs. */
  readonly backupSessionTtl: Duration.Duration
  /** Renewal of the backup session: TTL/3 survives two lost renewals. */
  readonly backupRenewEvery: Duration.Duration
  /** Polling interval while waiting for BGSAVE, for replicas to catch up, or for a failover to complete. */
  readonly pollEvery: Duration.Duration
  /** Upper bound for BGSAVE to finish before the backup is abandoned. */
  readonly bgsaveTimeout: Duration.Duration
  /** pre-stop: writes stay paused this long beyond PRESTOP_TIMEOUT, to cover Redis's own shutdown after the handover. */
  readonly handoverPause: Duration.Duration
  /**
   * pre-stop gives Redis's shutdown (its wait for lagging replicas, then the RDB: seconds
   * per GiB) what is left of PRESTOP_TIMEOUT but this: ContainerPilot's timeout on the
   * job runs from before pre-stop's own start, and the RDB is renamed after Redis exits.
   * A shutdown cut off is killed by ContainerPilot, and the node's next start copies the
   * whole dataset.
   */
  readonly preStopMargin: Duration.Duration
  /** pre-stop: a replica must catch up with the paused master within this, or the handover is skipped (no acknowledged write is given up). */
  readonly replicaCatchUp: Duration.Duration
  /** pre-stop: Sentinel learns replicas from the master's INFO every 10 s; a replica it does not know is never moved to the new master. */
  readonly sentinelDiscovery: Duration.Duration
  /** Sentinel's advice: reset one sentinel at a time, 30 s apart, so the others keep the full picture. */
  readonly sentinelResetSpacing: Duration.Duration
  /** Health checks answer this much before HEALTH_TIMEOUT: ContainerPilot's timeout also covers starting and ending the process. */
  readonly healthMargin: Duration.Duration
  /** The agent observes Redis and the sentinels this often, besides on every Sentinel event (DESIGN.md §1). */
  readonly observeEvery: Duration.Duration
  /** A peer sentinel that did not answer the last look gets this long in the next, not a whole redisCommand: a cut-off peer must not delay the verdict that a failover is waiting for; one that is back answers in milliseconds. */
  readonly silentPeerAnswer: Duration.Duration
  /** One observation, all its calls together: a hanging dependency makes a finding Unknown, never a stuck agent. */
  readonly observation: Duration.Duration
  /** The agent re-reads its Consul registrations this often at rest: a Consul that lost its state is healed well within 10 s. */
  readonly registrySyncEvery: Duration.Duration
  /** The agent reads `service/<name>/paused` and its Redis's replica-priority this often: one KV read and one local command, so a node restarted while paused is back at priority 0 within a second of its agent starting. */
  readonly pauseEvery: Duration.Duration
  /** The agent checks its local Sentinel's periods (SentinelTuning.ts) this often: one local command, and a restarted sentinel is tuned again within it (a master dying in those seconds still fails over, on Sentinel's default periods). */
  readonly sentinelTuningEvery: Duration.Duration
  /** At rest (not paused), the agent reads its own replica-priority this often, to find one a switchover left away from REPLICA_PRIORITY. */
  readonly priorityCheckEvery: Duration.Duration
  /** A priority away from REPLICA_PRIORITY this long is put back: longer than a switchover holds one (propagation, catch-up, settle and restore: about 40 s). */
  readonly priorityStrayLimit: Duration.Duration
  /** switchover, pause: Sentinel reads a replica's priority from its INFO every 10 s; a failover asked before it knows the new priorities could pick another node. */
  readonly priorityPropagation: Duration.Duration
  /** switchover: a held replica-priority is put back (set, read back, rewritten) until this passes: Sentinel reconfigures each replica after the promotion, killing its clients, within seconds. */
  readonly priorityRestore: Duration.Duration
  /** switchover: after SENTINEL FAILOVER, the chosen node must be master in Sentinel and passing as master in Consul within this. */
  readonly switchoverSettle: Duration.Duration
  /** status, list, resume: an agent answers `/status` from memory in milliseconds; one that has not within this is asked around (Redis directly). */
  readonly agentReport: Duration.Duration
  /** Stranded replicas and stale sentinels are looked after this often. */
  readonly careEvery: Duration.Duration
  /** After a start from resync.rdb, the agent looks this often whether to turn the AOF on, or whether it is written: until then a crash loses what the node received since its start. */
  readonly aofCareEvery: Duration.Duration
  /** Each care step, so one slow step never holds up the others. */
  readonly careStep: Duration.Duration
  /** A replica following another master than the sentinels name is moved only after this long: Sentinel reconfigures the replicas it knows within ~1 s of a switch. */
  readonly strandedGrace: Duration.Duration
  /** Delay before subscribing again to a sentinel whose event connection was lost. */
  readonly resubscribeEvery: Duration.Duration
  /** An agent whose observation loop made no progress this long exits, and ContainerPilot restarts it. */
  readonly agentStall: Duration.Duration
  /**
   * A Manta request's header phase: a metadata call (info, ls, mkdir, unlink) until its
   * answer, or a transfer until its first byte moves (connect, signature check, 100
   * Continue or the GET's headers). Never a whole transfer: Manta answers a PUT only
   * after the last byte, so a wall clock around it fails every large upload. Once bytes
   * move, BACKUP_STALL_TIMEOUT's watchdog and the job's own timeout bound the transfer.
   */
  readonly storeRequest: Duration.Duration
  /** `setup-env` reads a few KiB from local files; longer means a hung mount, and the operator is waiting at a prompt. */
  readonly setupEnvDeadline: Duration.Duration
}

export const defaultTimings: Timings = {
  redisCommand: Duration.seconds(1),
  consulCall: Duration.seconds(1),
  retryBase: Duration.millis(100),
  consulRetries: 2,
  redisRetries: 1,
  lockSessionTtl: Duration.seconds(15),
  lockDelay: Duration.seconds(5),
  lockRenewEvery: Duration.seconds(5),
  roleRetryEvery: Duration.seconds(1),
  dnsLookup: Duration.seconds(2),
  backupSessionTtl: Duration.seconds(30),
  backupRenewEvery: Duration.seconds(10),
  pollEvery: Duration.millis(100),
  bgsaveTimeout: Duration.minutes(10),
  handoverPause: Duration.seconds(10),
  replicaCatchUp: Duration.seconds(3),
  preStopMargin: Duration.seconds(1),
  sentinelDiscovery: Duration.seconds(11),
  sentinelResetSpacing: Duration.seconds(30),
  storeRequest: Duration.seconds(30),
  healthMargin: Duration.millis(500),
  observeEvery: Duration.seconds(1),
  observation: Duration.seconds(3),
  silentPeerAnswer: Duration.millis(100),
  registrySyncEvery: Duration.seconds(5),
  pauseEvery: Duration.seconds(1),
  sentinelTuningEvery: Duration.seconds(5),
  priorityPropagation: Duration.seconds(12),
  switchoverSettle: Duration.seconds(15),
  priorityRestore: Duration.seconds(10),
  priorityCheckEvery: Duration.seconds(15),
  priorityStrayLimit: Duration.seconds(60),
  agentReport: Duration.millis(300),
  careEvery: Duration.seconds(5),
  aofCareEvery: Duration.seconds(1),
  careStep: Duration.seconds(6),
  strandedGrace: Duration.seconds(10),
  resubscribeEvery: Duration.seconds(1),
  agentStall: Duration.seconds(30),
  setupEnvDeadline: Duration.seconds(10)
}

/**
 * The agent's: no retries inside a call. It observes every second and syncs Consul
 * every few seconds, so its next round is the retry; retrying within one would only
 * delay a verdict (a dead peer sentinel cost every observation 100 ms).
 */
export const agentTimings: Timings = { ...defaultTimings, consulRetries: 0, redisRetries: 0 }

/** Tests shrink these; production always runs with the defaults (the agent with agentTimings). */
export const Timings = Context.Reference<Timings>("autopilot-redis/Timings", {
  defaultValue: () => defaultTimings
})
