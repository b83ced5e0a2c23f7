// The Settings service: the decoded environment (DESIGN.md §8). The live layer is the
// only code that reads process.env and the host's interfaces; tests build Settings
// from a plain record.
import * as os from "node:os"
import { Context, Effect, Layer, Result, Runtime, Schema } from "effect"
import { decodeSettings, formatProblems, type HostFacts, type Problem, type Settings as SettingsData } from "../domain/Settings.ts"

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

export class Settings extends Context.Service<Settings, SettingsData>()("autopilot-redis/Settings") {
  static readonly fromEnvironment = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts
  ): Effect.Effect<SettingsData, InvalidEnvironment> =>
    Result.match(decodeSettings(env, host), {
      onSuccess: Effect.succeed,
      onFailure: (problems: ReadonlyArray<Problem>) => Effect.fail(new InvalidEnvironment({ problems }))
    })

  static readonly layer: Layer.Layer<Settings, InvalidEnvironment> = Layer.effect(
    Settings,
    Effect.suspend(() => Settings.fromEnvironment(process.env, hostFacts()))
  )

  static readonly layerFrom = (
    env: Readonly<Record<string, string | undefined>>,
    host: HostFacts = { hostname: "test-node", ipv4: ["10.0.0.1"] }
  ): Layer.Layer<Settings, InvalidEnvironment> => Layer.effect(Settings, Settings.fromEnvironment(env, host))
}
