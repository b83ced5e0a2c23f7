// The connection pool closes every client it made when its scope ends, also when two
// commands raced to a fresh endpoint and both connected: an open socket keeps a
// handler process (pre-start) from exiting, and Redis from starting. A connection the
// server closed (Sentinel's CLIENT KILL when it reconfigures a replica) is replaced on
// the next try, never used again; so is one whose caller stopped waiting for it (a
// peer cut off and back: the connection that lost packets stays mute, a fresh one
// answers at once).
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Schedule } from "effect"
import { makeConnections } from "../../../src/layers/RedisConnections.ts"
import { controllableServer, masterRespServer, redisMaster } from "../../support/fakeServers.ts"

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

  // The observation gives a peer that was silent 100 ms and gives up on it; the peer
  // answers again. Across a cut the old connection lost its packets: here the server
  // ignores what it gets while it hangs, on a connection that was up (the command
  // lost) or one being set up (its AUTH lost: with a password the connection is ready
  // only once AUTH is answered). What the next call, as bounded, gets.
  const askedAfterGivingUp = (options: { readonly connectedBefore: boolean; readonly password: Option.Option<string> }) =>
    Effect.gen(function*() {
      const bound = <A, E, R>(call: Effect.Effect<A, E, R>) => call.pipe(Effect.timeout("100 millis"), Effect.result)
      const server = yield* Effect.acquireRelease(Effect.promise(() => controllableServer("127.0.0.1", redisMaster)), (s) => Effect.promise(() => s.close()))
      const at = { host: server.host, port: server.port }
      const pool = yield* makeConnections({ server: "Redis", password: options.password, timeout: Duration.seconds(1) })
      if (options.connectedBefore) yield* pool.run(at, "ROLE", [])
      yield* Effect.promise(() => server.setMode("hang"))
      assert.strictEqual((yield* bound(pool.run(at, "ROLE", [])))._tag, "Failure")
      yield* Effect.promise(() => server.setMode("good"))
      return yield* bound(pool.run(at, "ROLE", []))
    })

  it.live("a command its caller gave up on leaves no connection behind: the peer, answering again, is heard on the next call", () =>
    Effect.gen(function*() {
      const answer = yield* askedAfterGivingUp({ connectedBefore: true, password: Option.none() })
      assert.strictEqual(answer._tag, "Success", answer._tag === "Failure" ? String(answer.failure) : "")
    }).pipe(Effect.scoped))

  it.live("a connection being set up that its caller gave up on is not waited for again: the next call connects afresh", () =>
    Effect.gen(function*() {
      const answer = yield* askedAfterGivingUp({ connectedBefore: false, password: Option.some("secret") })
      assert.strictEqual(answer._tag, "Success", answer._tag === "Failure" ? String(answer.failure) : "")
    }).pipe(Effect.scoped))
})
