// `manage setup-env --key <file> [--out _env]`: checks an SSH private key and writes
// MANTA_KEY_ID and MANTA_PRIVATE_KEY into the env file compose reads, as the original
// image's setup.sh did. Other lines of an existing file are kept; the file is 0600
// because it holds a secret, and the key itself is never printed.
import { Console, Effect, FileSystem, Option, Result, Schema } from "effect"
import { inspectPrivateKey, setEnvVariable, toEnvLine } from "../domain/MantaKey.ts"
import { readOptional, writeAtomic } from "./files.ts"

export class KeyRejected extends Schema.TaggedError<KeyRejected>()("KeyRejected", { path: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `setup-env: ${this.path}: ${this.reason}`
  }
}

export const setupEnv = (keyPath: string, out: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(keyPath).pipe(
      Effect.mapError((e) => new KeyRejected({ path: keyPath, reason: e.reason._tag === "NotFound" ? "no such file" : e.message }))
    )
    const key = inspectPrivateKey(text)
    if (Result.isFailure(key)) return yield* new KeyRejected({ path: keyPath, reason: key.failure })
    const existing = Option.getOrElse(yield* readOptional(out), () => "")
    const updated = setEnvVariable(setEnvVariable(existing, "MANTA_KEY_ID", key.success.fingerprintMd5), "MANTA_PRIVATE_KEY", toEnvLine(text))
    yield* writeAtomic(out, updated, 0o600)
    yield* Console.log(
      `wrote MANTA_KEY_ID=${key.success.fingerprintMd5} and MANTA_PRIVATE_KEY (${key.success.type} ${key.success.bits} bits) to ${out}; set MANTA_USER (and MANTA_URL, MANTA_SUBUSER, MANTA_ROLE if needed) there too`
    )
  })
