// `manage` talks to a real Consul (CONSUL_BIN) over HTTPS as CONSUL_HTTP_SSL,
// CONSUL_CACERT and CONSUL_TLS_SERVER_NAME say, verifying its certificate: with the
// CA it works; without it, with a certificate for another name, or over plain HTTP
// it is refused at once (not retried), naming what to check.
import { existsSync, rmSync } from "node:fs"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Timings } from "../../src/domain/Timings.ts"
import { Consul, type ConsulError } from "../../src/layers/Consul.ts"
import { Settings } from "../../src/layers/Settings.ts"
import { type RealConsul, startRealConsul } from "../support/consul/RealConsul.ts"
import { fastTimings } from "../support/harness.ts"
import { scratchDir } from "../support/scenario.ts"
import { makeTestPki, type TestPki } from "../support/tls.ts"

const bin = process.env.CONSUL_BIN
const available = bin !== undefined && bin !== "" && existsSync(bin)
const bind = `127.0.${150 + (process.pid % 50)}.1`

/** A key written and read back through the Consul layer configured by `env`; the error when refused. */
const roundTrip = (env: Readonly<Record<string, string>>): Promise<string | ConsulError> =>
  Effect.runPromise(
    Consul.use((c) =>
      Effect.gen(function*() {
        yield* c.put("tls-test/key", "over https")
        const entry = yield* c.get("tls-test/key")
        return entry._tag === "Some" ? entry.value.value ?? "" : "(missing)"
      })
    ).pipe(
      Effect.provide(Consul.layer.pipe(Layer.provide(Layer.mergeAll(Settings.layerFrom({ ANNOUNCE_IP: "10.0.0.1", ...env }), Layer.succeed(Timings, fastTimings))), Layer.orDie)),
      Effect.catchTag("ConsulError", (e) => Effect.succeed(e))
    )
  )

describe.skipIf(!available)("Consul over HTTPS (a real agent)", () => {
  let consul: RealConsul | undefined
  let pki: TestPki
  let dir = ""

  beforeAll(async () => {
    dir = scratchDir("consul-https")
    pki = makeTestPki(dir)
    // Named only server.dc1.consul, as `consul tls cert create -server` names it.
    const server = pki.issue("server.dc1.consul")
    consul = await startRealConsul({ bin: bin ?? "", bind, logFile: `${dir}/consul.log`, https: { port: 8501, ...server } })
  })
  afterAll(async () => {
    await consul?.close()
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  const https = () => ({ CONSUL: `${bind}:8501`, CONSUL_HTTP_SSL: "true", CONSUL_CACERT: pki.caFile })

  it("with the CA and the name the certificate bears: every call works", async () => {
    expect(await roundTrip({ ...https(), CONSUL_TLS_SERVER_NAME: "server.dc1.consul" })).toBe("over https")
  })

  it("refused, not retried, naming what to check: no CA (the system's do not know it), a certificate for another name, plain HTTP to the HTTPS port", async () => {
    const { CONSUL_CACERT: _, ...noCa } = https()
    const cases = [
      ["no CA", { ...noCa, CONSUL_TLS_SERVER_NAME: "server.dc1.consul" }],
      ["the address is not the certificate's name", https()],
      ["plain HTTP", { CONSUL: `${bind}:8501` }]
    ] as const
    for (const [what, env] of cases) {
      const started = Date.now()
      const result = await roundTrip(env)
      expect(typeof result === "string" ? result : result.reason, what).toBe("rejected")
      if (typeof result !== "string" && what !== "plain HTTP") expect(result.detail, what).toMatch(/CONSUL_CACERT/)
      // No retries: well inside one call's timeout times the retries.
      expect(Date.now() - started, what).toBeLessThan(5_000)
    }
  })
})
