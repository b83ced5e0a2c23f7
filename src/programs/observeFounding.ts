// What the founding rules need, once per attempt (DESIGN.md §5): the nodes announced as
// starting (a key without a session is stale and ignored), the cluster's record,
// whether the backup store holds a backup (asked once per start, and only when the
// record does not already say the cluster held data), and how long this node has
// watched. Every data holder seen is remembered for the rest of this start.
import { Clock, Duration, Effect, Option, Ref, Schema } from "effect"
import { type BackupEvidence, clusterHistory, lastMasterOf, type RecordState } from "../domain/ClusterRecord.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { AnnouncementFromJson, type Candidate, candidateOf, type FoundingView } from "../domain/Founding.ts"
import { BackupStore } from "../layers/BackupStore.ts"
import { Consul, type ConsulError } from "../layers/Consul.ts"
import { Settings } from "../layers/Settings.ts"
import { readClusterRecord } from "./clusterRecord.ts"
import { latestBackup } from "./lastBackup.ts"

export interface Watch {
  /** Data holders seen during this start. */
  readonly seen: Ref.Ref<ReadonlyArray<Candidate>>
  /** What the backup store said, once asked. */
  readonly backup: Ref.Ref<Option.Option<BackupEvidence>>
}

export const makeWatch: Effect.Effect<Watch> = Effect.all({
  seen: Ref.make<ReadonlyArray<Candidate>>([]),
  backup: Ref.make(Option.none<BackupEvidence>())
})

const saysData = (record: RecordState): boolean => record._tag === "Unreadable" || (record._tag === "Present" && record.record.heldData)

const backupEvidence = (watch: Watch) =>
  Effect.gen(function*() {
    const known = yield* Ref.get(watch.backup)
    if (Option.isSome(known)) return known.value
    const store = yield* BackupStore
    const evidence: BackupEvidence = store.kind === "none"
      ? { _tag: "NoStore" }
      : yield* latestBackup.pipe(
        Effect.map(Option.match({ onNone: (): BackupEvidence => ({ _tag: "NoneStored" }), onSome: (m): BackupEvidence => ({ _tag: "Found", id: m.id }) })),
        Effect.catch((e) => Effect.succeed<BackupEvidence>({ _tag: "Unreadable", reason: e.message }))
      )
    yield* Ref.set(watch.backup, Option.some(evidence))
    return evidence
  })

export const observeFounding = (
  watch: Watch,
  me: Candidate,
  since: number
): Effect.Effect<FoundingView, ConsulError, Settings | Consul | BackupStore> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const [entries, record] = yield* Effect.all([consul.list(consulNames(settings.serviceName).starting), readClusterRecord], { concurrency: 2 })
    const others = entries
      .filter((e) => Option.isSome(e.session))
      .flatMap((e) => Option.toArray(Schema.decodeUnknownOption(AnnouncementFromJson)(e.value ?? "")))
      .map(candidateOf)
      .filter((c) => c.node !== me.node)
    // The record alone may already settle it; the store is asked only when it does not.
    const evidence = saysData(record) ? ({ _tag: "NoneStored" } as const) : yield* backupEvidence(watch)
    const seen = yield* Ref.updateAndGet(watch.seen, (before) => [
      ...before,
      ...others.filter((c) => c.data._tag === "Held" && !before.some((b) => b.node === c.node))
    ])
    return {
      node: me.node,
      lastWrite: me.data._tag === "Held" ? me.data.lastWrite : Option.none(),
      others,
      seenHolders: seen,
      history: clusterHistory(record, evidence),
      lastMaster: lastMasterOf(record),
      watchedMs: (yield* Clock.currentTimeMillis) - since,
      graceMs: Duration.toMillis(settings.foundingGrace)
    }
  })
