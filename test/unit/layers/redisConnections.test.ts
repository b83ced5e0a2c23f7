// The connection pool closes every client it made when its scope ends, also when two
// commands raced to a fresh endpoint and both connected: an open socket keeps a
// handler process (pre-start) from exiting, and Redis from starting. A connection the
// server closed (Sentinel's CLIENT KILL when it reconfigures a replica) is replaced on
// the next try, never used again.
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

  it.live("a connection the server closed is replaced when the call is tried again, also a call made before the close", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(masterRespServer), (s) => Effect.promise(() => s.close()))
      const at = { host: server.host, port: server.port }
      const pool = yield* makeConnections({ server: "Redis", password: Option.none(), timeout: Duration.seconds(1) })
      yield* pool.run(at, "ROLE", [])
      // Made while the connection is up, run after the server dropped it (a retry Schedule re-runs the same Effect).
      const role = pool.run(at, "ROLE", [])
      server.dropConnections()
      yield* Effect.sleep("50 millis")
      const answer = yield* role.pipe(Effect.retry(Schedule.recurs(2)), Effect.result)
      assert.strictEqual(answer._tag, "Success", answer._tag === "Failure" ? answer.failure.message : "")
    }).pipe(Effect.scoped))
})
