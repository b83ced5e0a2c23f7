// The cluster's record in Consul (`service/<name>/cluster`, DESIGN.md §3 and §5): when
// and by whom the cluster was founded, whether it ever held data, the last master
// seen. Pure updates for each writer (the founding pre-start, a backup, the agent of
// the passing master), each returning None when the record already says it, so
// nothing is written at rest; and whether the cluster held data, from the record or
// the backup store. Whatever cannot be read counts as "held data": the cost of that
// mistake is a wait, the cost of the other is the data.
import { Option, Schema } from "effect"
import { type Endpoint, sameEndpoint } from "./Endpoint.ts"
import { type History, type NodeRef } from "./Founding.ts"

const isoTime = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/))

const Place = { node: Schema.String, address: Schema.String, port: Schema.Int }

export const ClusterRecord = Schema.Struct({
  /** Absent when the record was rebuilt after Consul lost its state. */
  founded: Schema.optionalKey(Schema.Struct({ ...Place, at: isoTime })),
  /** Once true, true for good: a FLUSHALL does not make the old data's backups go away. */
  heldData: Schema.Boolean,
  lastMaster: Schema.optionalKey(Schema.Struct({ ...Place, seenAt: isoTime }))
})
export type ClusterRecord = typeof ClusterRecord.Type
export const ClusterRecordFromJson = Schema.fromJsonString(ClusterRecord)

/** What the key holds. */
export type RecordState =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Present"; readonly record: ClusterRecord }
  | { readonly _tag: "Unreadable" }

export const readRecord = (value: Option.Option<string | null>): RecordState => {
  if (Option.isNone(value) || value.value === null) return { _tag: "Absent" }
  return Option.match(Schema.decodeUnknownOption(ClusterRecordFromJson)(value.value), {
    onNone: (): RecordState => ({ _tag: "Unreadable" }),
    onSome: (record): RecordState => ({ _tag: "Present", record })
  })
}

const heldBefore = (prev: RecordState): boolean => prev._tag === "Unreadable" || (prev._tag === "Present" && prev.record.heldData)

const keep = (prev: RecordState): Omit<ClusterRecord, "heldData"> => {
  if (prev._tag !== "Present") return {}
  const { heldData: _, ...rest } = prev.record
  return rest
}

const place = (at: Endpoint) => ({ address: at.host, port: at.port })

/** The founding pre-start: who founded and when; it held data if it did before or the founder's data directory holds a dataset now. */
export const recordFounding = (prev: RecordState, founder: NodeRef, at: string, holdsDataNow: boolean): ClusterRecord => ({
  ...keep(prev),
  founded: { node: founder.node, ...place(founder.endpoint), at },
  heldData: heldBefore(prev) || holdsDataNow
})

/** A verified backup proves the cluster held data. */
export const recordBackup = (prev: RecordState): Option.Option<ClusterRecord> =>
  prev._tag === "Present" && prev.record.heldData ? Option.none() : Option.some({ ...keep(prev), heldData: true })

/** Whether the agent must count the master's keys: only while the record does not yet say the cluster held data. */
export const needsKeyCount = (prev: RecordState): boolean => !heldBefore(prev)

/**
 * The agent of the node whose master check passes: it is the last master seen, and
 * the cluster held data once its dataset has keys (`keys`: None when not counted).
 */
export const recordMasterSeen = (prev: RecordState, master: NodeRef, keys: Option.Option<number>, at: string): Option.Option<ClusterRecord> => {
  const heldData = heldBefore(prev) || Option.exists(keys, (n) => n > 0)
  const last = prev._tag === "Present" ? prev.record.lastMaster : undefined
  const same = last !== undefined && last.node === master.node && sameEndpoint({ host: last.address, port: last.port }, master.endpoint)
  if (prev._tag === "Present" && same && prev.record.heldData === heldData) return Option.none()
  return Option.some({ ...keep(prev), heldData, lastMaster: { node: master.node, ...place(master.endpoint), seenAt: at } })
}

export const lastMasterOf = (state: RecordState): Option.Option<NodeRef> =>
  state._tag === "Present" && state.record.lastMaster !== undefined
    ? Option.some({ node: state.record.lastMaster.node, endpoint: { host: state.record.lastMaster.address, port: state.record.lastMaster.port } })
    : Option.none()

/** What the backup store says about the cluster's past. */
export type BackupEvidence =
  | { readonly _tag: "Found"; readonly id: string }
  | { readonly _tag: "NoneStored" }
  | { readonly _tag: "NoStore" }
  | { readonly _tag: "Unreadable"; readonly reason: string }

/** Whether the cluster ever held data (a Consul that lost its state does not make an old cluster look new: backups remain). */
export const clusterHistory = (record: RecordState, backup: BackupEvidence): History => {
  if (record._tag === "Present" && record.record.heldData) return { _tag: "HeldData", evidence: "its record in Consul says so" }
  if (record._tag === "Unreadable") return { _tag: "HeldData", evidence: "its record in Consul is unreadable, so data is assumed" }
  switch (backup._tag) {
    case "Found":
      return { _tag: "HeldData", evidence: `the backup store holds backup ${backup.id}` }
    case "Unreadable":
      return { _tag: "HeldData", evidence: `the backup store could not be read (${backup.reason}), so data is assumed` }
    case "NoneStored":
    case "NoStore": {
      const store = backup._tag === "NoStore" ? "BACKUP_STORE is none" : "the backup store holds no backup"
      const consul = record._tag === "Absent" ? "Consul holds no record of it" : "its record in Consul says it never held data"
      return { _tag: "NeverHeldData", evidence: `${consul} and ${store}` }
    }
  }
}

