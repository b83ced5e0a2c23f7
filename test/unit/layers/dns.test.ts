// The Dns service's live layer against this machine's resolver: a name yields every
// IPv4 address it has (localhost: 127.0.0.1), an IPv4 literal is itself, a name that
// cannot exist fails as a value within the lookup's bound; the test layer answers
// from its table.
import { assert, describe, it } from "@effect/vitest"
import { createSocket } from "node:dgram"
import { Duration, Effect, Layer } from "effect"
import { Dns } from "../../../src/layers/Dns.ts"
import { Timings } from "../../../src/domain/Timings.ts"

const resolve = (host: string) => Dns.use((d) => d.resolve(host)).pipe(Effect.result)

describe("Dns", () => {
  it.live("live: localhost resolves to 127.0.0.1; an IPv4 literal is itself", () =>
    Effect.gen(function*() {
      const local = yield* resolve("localhost")
      assert.isTrue(local._tag === "Success" && local.success.includes("127.0.0.1"), JSON.stringify(local))
      assert.deepStrictEqual(yield* Dns.use((d) => d.resolve("10.0.0.5")), ["10.0.0.5"])
    }).pipe(Effect.provide(Dns.layer)))

  it.live("live: a name that cannot exist (.invalid, RFC 6761) fails as a DnsError within the lookup's bound", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const r = yield* resolve("no-such-node.invalid")
      assert.isBelow(Date.now() - started, 5_000)
      assert.isTrue(r._tag === "Failure" && r.failure._tag === "DnsError", JSON.stringify(r))
      if (r._tag === "Failure") assert.match(r.failure.message, /^DNS lookup of no-such-node\.invalid: (not-found|failed|timeout)/)
    }).pipe(Effect.provide(Dns.layer)))

  it.live("live: a DNS server that takes the query and never answers fails the lookup as a timeout within its bound", () =>
    Effect.gen(function*() {
      const silent = createSocket("udp4")
      let queries = 0
      silent.on("message", () => queries++)
      yield* Effect.promise(() => new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve)))
      try {
        const { dnsLookup } = yield* Timings
        const layer = Layer.effect(Dns, Dns.make({ servers: [`127.0.0.1:${silent.address().port}`] }))
        const started = Date.now()
        const r = yield* resolve("tasks.redis").pipe(Effect.provide(layer))
        assert.isTrue(r._tag === "Failure" && r.failure.reason === "timeout", JSON.stringify(r))
        assert.isAtLeast(queries, 1)
        assert.isBelow(Date.now() - started, Duration.toMillis(dnsLookup) + 2_000)
      } finally {
        silent.close()
      }
    }))

  it.effect("test layer: answers from its table, a missing name is not found", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Dns.use((d) => d.resolve("redis")), ["10.0.0.11", "10.0.0.12"])
      const missing = yield* resolve("cache")
      assert.isTrue(missing._tag === "Failure" && missing.failure.reason === "not-found")
    }).pipe(Effect.provide(Layer.fresh(Dns.layerTest(new Map([["redis", ["10.0.0.11", "10.0.0.12"]]]))))))
})
