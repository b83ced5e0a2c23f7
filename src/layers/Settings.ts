// The Settings service: the decoded environment (DESIGN.md §8). The live layer is the
// only code that reads process.env and the host's interfaces; tests build Settings
// from a plain record. The key parser (sshpk, ~15 ms to load) is loaded only when
// MANTA_PRIVATE_KEY is set, so a health check without Manta does not pay for it.
import * as os from "node:os"
import { Context, Effect, Layer, Result, Runtime, Schema } from "effect"
import { formatProblems, type Problem } from "../domain/EnvProblems.ts"
import { decodeSettings, type HostFacts, type KeyInspector, logFormatOf, type Settings as SettingsData } from "../domain/Settings.ts"

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

/** Never called: decodeSettings inspects a key only when MANTA_PRIVATE_KEY is set. */
const noKey: KeyInspector = () => Result.fail("no key to inspect")

const keyInspector = (env: Readonly<Record<string, string | undefined>>): Effect.Effect<KeyInspector> =>
  (env.MANTA_PRIVATE_KEY ?? "") === ""
    ? Effect.succeed(noKey)
    : Effect.promise(() => import("../domain/MantaKey.ts")).pipe(Effect.map((m) => m.inspectPrivateKey))

export class Settings extends Context.Service<Settings, SettingsData>()("autopilot-redis/Settings") {
  static readonly fromEnvironment = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts
  ): Effect.Effect<SettingsData, InvalidEnvironment> =>
    Effect.flatMap(keyInspector(env), (inspectKey) =>
      Result.match(decodeSettings(env, host, inspectKey), {
        onSuccess: Effect.succeed,
        onFailure: (problems: ReadonlyArray<Problem>) => Effect.fail(new InvalidEnvironment({ problems }))
      }))

  static readonly layer: Layer.Layer<Settings, InvalidEnvironment> = Layer.effect(
    Settings,
    Effect.suspend(() => Settings.fromEnvironment(process.env, hostFacts()))
  )

  static readonly layerFrom = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts = { hostname: "test-node", ipv4: ["10.0.0.1"] }
  ): Layer.Layer<Settings, InvalidEnvironment> => Layer.effect(Settings, Settings.fromEnvironment(env, host))

  /**
   * LOG_FORMAT alone, for the line reporting a failed run: known even when the rest
   * of the environment is invalid, so `json` holds to the last line.
   */
  static readonly logFormat = (): "text" | "json" => logFormatOf(process.env)
}
