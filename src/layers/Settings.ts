// The Settings service: the decoded environment (DESIGN.md §8). The live layer is the
// only code that reads process.env and the host's interfaces; tests build Settings
// from a plain record. It also reads the files a secret's `<NAME>_FILE` names, before
// decoding, so what they hold is checked with the rest and a file that cannot be used
// is one more problem in the same message (the decision is SecretFiles.ts's). The key
// parser (sshpk, ~15 ms to load) is loaded only when MANTA_PRIVATE_KEY or its file is
// set, so a health check without Manta does not pay for it.
import * as os from "node:os"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Context, Effect, type FileSystem, Layer, Result, Runtime, Schema } from "effect"
import { formatProblems, type Problem } from "../domain/EnvProblems.ts"
import { type FileRead } from "../domain/SecretFiles.ts"
import { decodeSettings, type HostFacts, type KeyInspector, logFormatOf, secretFilesToRead, type Settings as SettingsData } from "../domain/Settings.ts"
import { readSmallFile } from "./SmallFile.ts"

export class InvalidEnvironment extends Schema.TaggedError<InvalidEnvironment>()("InvalidEnvironment", {
  problems: Schema.Array(Schema.Struct({ variable: Schema.String, message: Schema.String }))
}) {
  override readonly [Runtime.errorExitCode] = 2
  override get message(): string {
    return formatProblems(this.problems)
  }
}

const hostFacts = (): HostFacts => ({
  hostname: os.hostname(),
  ipv4: Object.values(os.networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .filter((a) => a.family === "IPv4" && !a.internal)
    .map((a) => a.address)
})

/** Never called: decodeSettings inspects a key only when MANTA_PRIVATE_KEY is set, or read from its file. */
const noKey: KeyInspector = () => Result.fail("no key to inspect")

const keyInspector = (env: Readonly<Record<string, string | undefined>>): Effect.Effect<KeyInspector> =>
  (env.MANTA_PRIVATE_KEY ?? "") === "" && (env.MANTA_PRIVATE_KEY_FILE ?? "") === ""
    ? Effect.succeed(noKey)
    : Effect.promise(() => import("../domain/MantaKey.ts")).pipe(Effect.map((m) => m.inspectPrivateKey))

/** What reading each `<NAME>_FILE` gave: the text, or why the file is unusable (naming neither path nor content). */
const readSecretFiles = (env: Readonly<Record<string, string | undefined>>): Effect.Effect<ReadonlyMap<string, FileRead>, never, FileSystem.FileSystem> =>
  Effect.forEach(secretFilesToRead(env), ({ file, path, maxBytes }) =>
    readSmallFile(path, maxBytes).pipe(
      Effect.result,
      Effect.map((read) => [file, Result.mapError(read, (e) => e.reason)] as const)
    )).pipe(Effect.map((reads) => new Map(reads)))

export class Settings extends Context.Service<Settings, SettingsData>()("autopilot-redis/Settings") {
  static readonly fromEnvironment = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts
  ): Effect.Effect<SettingsData, InvalidEnvironment, FileSystem.FileSystem> =>
    Effect.gen(function*() {
      const reads = yield* readSecretFiles(env)
      const inspectKey = yield* keyInspector(env)
      return yield* Result.match(decodeSettings(env, host, inspectKey, reads), {
        onSuccess: Effect.succeed,
        onFailure: (problems: ReadonlyArray<Problem>) => Effect.fail(new InvalidEnvironment({ problems }))
      })
    })

  static readonly layer: Layer.Layer<Settings, InvalidEnvironment> = Layer.effect(
    Settings,
    Effect.suspend(() => Settings.fromEnvironment(process.env, hostFacts()))
  ).pipe(Layer.provide(NodeFileSystem.layer))

  /** From a plain record; `<NAME>_FILE`s are read from the real file system, as in the live layer. */
  static readonly layerFrom = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts = { hostname: "test-node", ipv4: ["10.0.0.1"] }
  ): Layer.Layer<Settings, InvalidEnvironment> => Layer.effect(Settings, Settings.fromEnvironment(env, host)).pipe(Layer.provide(NodeFileSystem.layer))

  /**
   * LOG_FORMAT alone, for the line reporting a failed run: known even when the rest
   * of the environment is invalid, so `json` holds to the last line.
   */
  static readonly logFormat = (): "text" | "json" => logFormatOf(process.env)
}
