import { Effect } from "effect"
import type { BackupTarget } from "../domain/Settings.ts"
import { type BackupStoreShape, BackupStoreError } from "./BackupStore.ts"
export const makeMantaStore = (_: Extract<BackupTarget, { _tag: "manta" }>): Effect.Effect<BackupStoreShape, BackupStoreError> =>
  Effect.fail(new BackupStoreError({ store: "manta", operation: "connect", reason: "not-configured", detail: "pending" }))
