// `manage setup-env --key <file> [--out _env] [--follow-symlinks]`: checks an SSH
// private key and writes MANTA_KEY_ID and MANTA_PRIVATE_KEY into the env file compose
// reads, as the original image's setup.sh did. It writes only a regular file it may
// replace (never a device, FIFO, directory, the key itself, or through a symlink unless
// told to), reads at most a few KiB, and gives up after Timings.setupEnvDeadline.
// Other lines of an existing file are kept; the file is 0600 because it holds a secret,
// and the key itself is never printed.
import { Console, Duration, Effect, FileSystem, Option, Result, Runtime, Schema } from "effect"
import { maxKeyBytes } from "../domain/EnvValue.ts"
import { inspectPrivateKey, setEnvVariable, toEnvLine } from "../domain/MantaKey.ts"
import { Timings } from "../domain/Timings.ts"
import { describeFileType, readSmallFile } from "../layers/SmallFile.ts"
import { writeAtomic } from "./files.ts"

/** The key file is not a key setup-env will write: invalid input, exit 2. */
export class KeyRejected extends Schema.TaggedError<KeyRejected>()("KeyRejected", { path: Schema.String, reason: Schema.String }) {
  override readonly [Runtime.errorExitCode] = 2
  override get message(): string {
    return `setup-env: key ${this.path}: ${this.reason}`
  }
}

/** The output is not a file setup-env may replace: invalid input, exit 2; nothing was written. */
export class OutputRefused extends Schema.TaggedError<OutputRefused>()("OutputRefused", { path: Schema.String, reason: Schema.String }) {
  override readonly [Runtime.errorExitCode] = 2
  override get message(): string {
    return `setup-env: ${this.path}: ${this.reason} (nothing was written)`
  }
}

export class SetupEnvTimeout extends Schema.TaggedError<SetupEnvTimeout>()("SetupEnvTimeout", { after: Schema.String }) {
  override get message(): string {
    return `setup-env: gave up after ${this.after}, a file did not answer (nothing was written)`
  }
}

/** An env file is a few KiB; anything bigger is not one. */
const maxEnvFileBytes = 1024 * 1024

interface Output {
  /** Where the file is written: `out`, or a symlink's target when following it. */
  readonly path: string
  readonly identity: Option.Option<string>
}

const identityOf = (info: FileSystem.File.Info): Option.Option<string> => Option.map(info.ino, (ino) => `${info.dev}:${ino}`)

/** Resolves and checks `out` before anything is written. */
const outputOf = (out: string, followSymlinks: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const refuse = (reason: string) => new OutputRefused({ path: out, reason })
    const link = yield* fs.lstat(out).pipe(Effect.map(Option.some), Effect.catch((e) => (e.reason._tag === "NotFound" ? Effect.succeed(Option.none()) : Effect.fail(refuse(e.message)))))
    if (Option.isNone(link)) return { path: out, identity: Option.none() } satisfies Output
    let path = out
    let info = link.value
    if (info.type === "SymbolicLink") {
      if (!followSymlinks) return yield* refuse("is a symbolic link; pass --follow-symlinks to write to its target")
      path = yield* fs.realPath(out).pipe(Effect.mapError(() => refuse("is a symbolic link to nothing")))
      info = yield* fs.stat(path).pipe(Effect.mapError((e) => refuse(e.message)))
    }
    if (info.type !== "File") return yield* refuse(`is ${describeFileType(info.type)}; setup-env writes only regular files`)
    return { path, identity: identityOf(info) } satisfies Output
  })

const writeKey = (keyPath: string, out: string, followSymlinks: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* readSmallFile(keyPath, maxKeyBytes).pipe(Effect.mapError((e) => new KeyRejected({ path: keyPath, reason: e.reason })))
    const key = inspectPrivateKey(text)
    if (Result.isFailure(key)) return yield* new KeyRejected({ path: keyPath, reason: key.failure })
    const keyIdentity = identityOf(yield* fs.stat(keyPath).pipe(Effect.mapError((e) => new KeyRejected({ path: keyPath, reason: e.message }))))

    const output = yield* outputOf(out, followSymlinks)
    if (Option.isSome(output.identity) && Option.isSome(keyIdentity) && output.identity.value === keyIdentity.value) {
      return yield* new OutputRefused({ path: out, reason: "is the key file itself" })
    }
    const existing = Option.isSome(output.identity)
      ? yield* readSmallFile(output.path, maxEnvFileBytes).pipe(Effect.mapError((e) => new OutputRefused({ path: out, reason: e.reason })))
      : ""
    const updated = setEnvVariable(setEnvVariable(existing, "MANTA_KEY_ID", key.success.fingerprintMd5), "MANTA_PRIVATE_KEY", toEnvLine(text))
    yield* writeAtomic(output.path, updated, 0o600)
    yield* Console.log(
      `wrote MANTA_KEY_ID=${key.success.fingerprintMd5} and MANTA_PRIVATE_KEY (${key.success.type} ${key.success.bits} bits) to ${output.path}; set MANTA_USER (and MANTA_URL, MANTA_SUBUSER, MANTA_ROLE if needed) there too`
    )
  })

export const setupEnv = (keyPath: string, out: string, options: { readonly followSymlinks: boolean } = { followSymlinks: false }) =>
  Effect.gen(function*() {
    const { setupEnvDeadline } = yield* Timings
    return yield* writeKey(keyPath, out, options.followSymlinks).pipe(
      Effect.timeoutOrElse({
        duration: setupEnvDeadline,
        orElse: () => Effect.fail(new SetupEnvTimeout({ after: Duration.format(setupEnvDeadline) }))
      })
    )
  })
