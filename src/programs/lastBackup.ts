// The manifest of the newest verified backup: Consul's record first, else the newest
// manifest stored beside the backups (a brand-new cluster has an empty Consul). An
// unreadable record is reported and treated as absent: it is never restored from.
import { Effect, Option, Schema, Stream } from "effect"
import { type Manifest, ManifestFromJson, newestManifestName } from "../domain/Backup.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { BackupStore, type BackupStoreError } from "../layers/BackupStore.ts"
import { Consul, type ConsulError } from "../layers/Consul.ts"
import { Settings } from "../layers/Settings.ts"

/** Consul's `last-backup` record. */
export const recordedBackup: Effect.Effect<Option.Option<Manifest>, ConsulError, Settings | Consul> = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const key = consulNames(settings.serviceName).lastBackup
  const entry = yield* consul.get(key)
  if (Option.isNone(entry) || entry.value.value === null) return Option.none()
  const manifest = Schema.decodeUnknownOption(ManifestFromJson)(entry.value.value)
  if (Option.isNone(manifest)) yield* Effect.logWarning(`ignoring ${key}: not a backup manifest`)
  return manifest
})

/** The newest manifest in the store, for when Consul has no record. */
export const storedBackup: Effect.Effect<Option.Option<Manifest>, BackupStoreError, Settings | BackupStore> = Effect.gen(function*() {
  const settings = yield* Settings
  const store = yield* BackupStore
  if (store.kind === "none") return Option.none()
  const name = newestManifestName(settings.serviceName, (yield* store.list).map((o) => o.name))
  if (Option.isNone(name)) return Option.none()
  const text = yield* store.get(name.value).pipe(Stream.decodeText(), Stream.mkString)
  const manifest = Schema.decodeUnknownOption(ManifestFromJson)(text)
  if (Option.isNone(manifest)) yield* Effect.logWarning(`ignoring ${name.value} in the store: not a backup manifest`)
  else yield* Effect.log(`Consul records no backup; the store's newest is ${manifest.value.id}`)
  return manifest
})

export const latestBackup: Effect.Effect<Option.Option<Manifest>, ConsulError | BackupStoreError, Settings | Consul | BackupStore> =
  Effect.flatMap(recordedBackup, (recorded) => (Option.isSome(recorded) ? Effect.succeed(recorded) : storedBackup))
