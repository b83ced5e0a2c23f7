// The connection pool closes every client it made when its scope ends, also when two
// commands raced to a fresh endpoint and both connected: an open socket keeps a
// handler process (pre-start) from exiting, and Redis from starting.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Schedule } from "effect"
import { makeConnections } from "../../../src/layers/RedisConnections.ts"
import { masterRespServer } from "../../support/fakeServers.ts"

describe("RedisConnections", () => {
  it.live("closes every connection it opened, including ones raced concurrently to the same endpoint", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(masterRespServer), (s) => Effect.promise(() => s.close()))
      const at = { host: server.host, port: server.port }
      yield* Effect.gen(function*() {
        const pool = yield* makeConnections({ server: "Redis", password: Option.none(), timeout: Duration.seconds(1) })
        yield* Effect.all([pool.run(at, "ROLE", []), pool.run(at, "ROLE", []), pool.run(at, "ROLE", [])], { concurrency: "unbounded" })
        assert.isAtLeast(server.openConnections(), 1)
      }).pipe(Effect.scoped)
      // The server notices each close a moment after the client sends it.
      const closed = yield* Effect.sync(() => server.openConnections()).pipe(
        Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (n) => n === 0 }),
        Effect.timeout("2 seconds"),
        Effect.orElseSucceed(() => server.openConnections())
      )
      assert.strictEqual(closed, 0)
    }).pipe(Effect.scoped))
})
