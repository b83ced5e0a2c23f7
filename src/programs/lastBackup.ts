// The manifest of the newest verified backup, as recorded in Consul. An unreadable
// record is reported and treated as absent: it must never be restored from.
import { Effect, Option, Schema } from "effect"
import { type Manifest, ManifestFromJson } from "../domain/Backup.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { Consul, type ConsulError } from "../layers/Consul.ts"
import { Settings } from "../layers/Settings.ts"

export const lastBackup: Effect.Effect<Option.Option<Manifest>, ConsulError, Settings | Consul> = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const key = consulNames(settings.serviceName).lastBackup
  const entry = yield* consul.get(key)
  if (Option.isNone(entry) || entry.value.value === null) return Option.none()
  const manifest = Schema.decodeUnknownOption(ManifestFromJson)(entry.value.value)
  if (Option.isNone(manifest)) yield* Effect.logWarning(`ignoring ${key}: not a backup manifest`)
  return manifest
})
