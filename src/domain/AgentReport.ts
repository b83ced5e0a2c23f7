// What a node agent reports about its node at `GET /status`: the one shape the agent
// writes and `manage status` reads back from every node, so a field cannot be
// renamed on one side only. Endpoints are `host:port`, times ISO 8601, unknowns null.
import { Schema } from "effect"
import { Manifest } from "./Backup.ts"

const VerdictReport = Schema.Struct({ pass: Schema.Boolean, reason: Schema.String, since: Schema.String })

export const AgentReport = Schema.Struct({
  node: Schema.String,
  redis: Schema.String,
  /** What this node's Redis answered to ROLE, or unknown when it did not answer. */
  role: Schema.Literals(["master", "replica", "sentinel", "unknown"]),
  /** The master a replica follows, and the state of its link. */
  following: Schema.NullOr(Schema.String),
  link: Schema.NullOr(Schema.String),
  offset: Schema.NullOr(Schema.Number),
  /** On a master: its connected replicas, with how many bytes each is behind. */
  replicas: Schema.Array(Schema.Struct({ redis: Schema.String, offset: Schema.Number, lagBytes: Schema.Number })),
  /**
   * REPLICA_PRIORITY and what Redis runs with now (0 while paused; null when it did not
   * answer). Optional: an agent of an earlier version does not report it.
   */
  priority: Schema.optionalKey(Schema.Struct({ configured: Schema.Number, current: Schema.NullOr(Schema.Number) })),
  sentinels: Schema.Struct({
    known: Schema.Number,
    answered: Schema.Number,
    /** The master they name, when the answers decide one. */
    master: Schema.NullOr(Schema.String),
    votes: Schema.Number
  }),
  verdicts: Schema.NullOr(Schema.Struct({ master: VerdictReport, replica: VerdictReport, sentinel: VerdictReport })),
  consul: Schema.Struct({
    lastSync: Schema.NullOr(Schema.String),
    problem: Schema.NullOr(Schema.String),
    paused: Schema.Boolean
  }),
  failovers: Schema.Struct({
    seen: Schema.Number,
    last: Schema.NullOr(Schema.Struct({ from: Schema.String, to: Schema.String, at: Schema.String }))
  }),
  lastBackup: Schema.NullOr(Manifest),
  /**
   * The write fence: whether this node's Redis refuses writes because its agent cannot
   * confirm it as master, why, since when, and `min-replicas-to-write` wanted and last
   * seen in Redis. Optional: an agent of an earlier version does not report it.
   */
  fence: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    fenced: Schema.Boolean,
    reason: Schema.String,
    since: Schema.String,
    minReplicasToWrite: Schema.Number,
    applied: Schema.NullOr(Schema.Number)
  }))),
  agent: Schema.Struct({ startedAt: Schema.String, cycles: Schema.Number, lastCycleAt: Schema.NullOr(Schema.String) })
})
export type AgentReport = typeof AgentReport.Type

export const AgentReportFromJson = Schema.fromJsonString(AgentReport)
