// What the agent's API tells an operator and a scraper, from its state alone: the
// `/status` report (`manage status` and `list` read it), the one-line verdicts the
// checks read, `/health`, and the Prometheus gauges. Pure functions of the state:
// each field and line is asserted whole for the states a node goes through.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { type Manifest } from "../../../src/domain/Backup.ts"
import { type CheckName, type CheckState, type NodeObservation } from "../../../src/domain/Health.ts"
import { type RoleReply } from "../../../src/domain/RedisReplies.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { healthLine, loopAlive, metricsText, report, verdictLine } from "../../../src/programs/agent/report.ts"
import { fastTimings, redisAt } from "../../support/harness.ts"

const T0 = Date.parse("2026-12-03T06:00:00.000Z")
const settingsOf = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    return yield* Settings
  }).pipe(Effect.provide(Settings.layerFrom({ HOSTNAME: "node-1", ANNOUNCE_IP: "10.0.0.11", CONSUL: "127.0.0.1", ...env })))

const observed = (role: RoleReply | undefined, answers: ReadonlyArray<Option.Option<{ host: string; port: number }>> = [], known = answers.length): NodeObservation => ({
  self: redisAt(1),
  masterName: "mymaster",
  role: role === undefined ? { _tag: "Unseen", reason: "connect ECONNREFUSED" } : { _tag: "Seen", value: role },
  localSentinel: { _tag: "Seen", value: Option.none() },
  sentinels: { known, answers }
})

const verdict = (pass: boolean, reason: string, since = T0): CheckState => ({ pass, reason, since, confirmedAt: since })
const verdicts = (master: boolean): Readonly<Record<CheckName, CheckState>> => ({
  master: verdict(master, master ? "master with 2 connected replica(s)" : "this node is a replica"),
  replica: verdict(!master, master ? "this node is master, not a replica" : "link up"),
  sentinel: verdict(true, "monitors mymaster")
})

const masterWithTwo: RoleReply = {
  _tag: "Master",
  offset: 5000,
  replicas: [{ endpoint: redisAt(2), offset: 4000 }, { endpoint: redisAt(3), offset: 5100 }]
}

const at = (s: AgentState, patch: Partial<AgentState>): AgentState => ({ ...s, ...patch })

describe("agent report (/status)", () => {
  it.effect("a master: its replicas with the bytes each is behind (never negative), the sentinels' tally, verdicts with their times", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf({ REPLICA_PRIORITY: "50" })
      const s = at(initialState(T0), {
        observation: Option.some(observed(masterWithTwo, [Option.some(redisAt(1)), Option.some(redisAt(1)), Option.none()], 3)),
        verdicts: Option.some(verdicts(true)),
        cycles: 7,
        lastCycle: Option.some({ at: T0 + 7000, trigger: "tick", tookMs: 3 }),
        priority: { current: Option.some(50), restorePending: false }
      })
      assert.deepStrictEqual(report(settings, s, T0), {
        node: "node-1",
        redis: "10.0.0.11:6379",
        role: "master",
        following: null,
        link: null,
        offset: 5000,
        replicas: [{ redis: "10.0.0.12:6379", offset: 4000, lagBytes: 1000 }, { redis: "10.0.0.13:6379", offset: 5100, lagBytes: 0 }],
        priority: { configured: 50, current: 50 },
        sentinels: { known: 3, answered: 3, master: "10.0.0.11:6379", votes: 2 },
        verdicts: {
          master: { pass: true, reason: "master with 2 connected replica(s)", since: "2026-12-03T06:00:00.000Z" },
          replica: { pass: false, reason: "this node is master, not a replica", since: "2026-12-03T06:00:00.000Z" },
          sentinel: { pass: true, reason: "monitors mymaster", since: "2026-12-03T06:00:00.000Z" }
        },
        consul: { lastSync: null, problem: null, paused: false },
        failovers: { seen: 0, last: null },
        lastBackup: null,
        fence: null,
        agent: { startedAt: "2026-12-03T06:00:00.000Z", cycles: 7, lastCycleAt: "2026-12-03T06:00:07.000Z" }
      })
    }))

  it.effect("a replica: whom it follows and its link; Consul's last sync, its problem, the pause, the last failover and backup", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf()
      const backup: Manifest = {
        id: "redis-20261203T050000000Z-node-2",
        createdAt: "2026-12-03T05:00:00.000Z",
        node: "node-2",
        bytes: 4096,
        sha256: "b".repeat(64),
        store: "local",
        path: "/backups/redis-20261203T050000000Z-node-2.rdb.gz",
        redisVersion: "7.0.15"
      }
      const s = at(initialState(T0), {
        observation: Option.some(observed({ _tag: "Replica", master: redisAt(2), state: "sync", offset: 900 }, [Option.some(redisAt(2))], 3)),
        consul: { lastSync: Option.some({ at: T0 + 1000, problem: Option.some("timeout") }), everRegistered: new Set(), paused: true, lastBackup: Option.some(backup) },
        failovers: { seen: 2, last: Option.some({ from: redisAt(1), to: redisAt(2), at: T0 + 500 }) }
      })
      const r = report(settings, s, T0)
      assert.deepStrictEqual(
        { role: r.role, following: r.following, link: r.link, offset: r.offset, replicas: r.replicas, sentinels: r.sentinels, verdicts: r.verdicts },
        { role: "replica", following: "10.0.0.12:6379", link: "sync", offset: 900, replicas: [], sentinels: { known: 3, answered: 1, master: null, votes: 0 }, verdicts: null }
      )
      assert.deepStrictEqual(r.consul, { lastSync: "2026-12-03T06:00:01.000Z", problem: "timeout", paused: true })
      assert.deepStrictEqual(r.failovers, { seen: 2, last: { from: "10.0.0.11:6379", to: "10.0.0.12:6379", at: "2026-12-03T06:00:00.500Z" } })
      assert.deepStrictEqual(r.lastBackup, backup)
      assert.deepStrictEqual(r.priority, { configured: 100, current: null })
    }))

  it.effect("Redis not answering, or answering as a Sentinel: role unknown or sentinel, no offset", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf()
      const unseen = report(settings, at(initialState(T0), { observation: Option.some(observed(undefined)) }), T0)
      assert.deepStrictEqual([unseen.role, unseen.offset, unseen.following, unseen.link], ["unknown", null, null, null])
      const sentinel = report(settings, at(initialState(T0), { observation: Option.some(observed({ _tag: "Sentinel", masters: ["mymaster"] })) }), T0)
      assert.deepStrictEqual([sentinel.role, sentinel.offset], ["sentinel", null])
      const never = report(settings, initialState(T0), T0)
      assert.deepStrictEqual([never.role, never.sentinels, never.agent.lastCycleAt], ["unknown", { known: 0, answered: 0, master: null, votes: 0 }, null])
    }))
})

describe("agent verdict lines (/master, /replica, /sentinel)", () => {
  it.effect("before the first observation every check fails, saying so; then pass or fail with the verdict's reason", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf()
      assert.deepStrictEqual(verdictLine(settings, initialState(T0), "master", T0), { pass: false, line: "fail: the agent has not observed this node yet" })
      const s = at(initialState(T0), { verdicts: Option.some(verdicts(true)) })
      assert.deepStrictEqual(verdictLine(settings, s, "master", T0), { pass: true, line: "pass: master with 2 connected replica(s)" })
      assert.deepStrictEqual(verdictLine(settings, s, "replica", T0), { pass: false, line: "fail: this node is master, not a replica" })
    }))

  it.effect("a pass not confirmed within its hold has lapsed, also when no loop ran since (an agent frozen and woken): the master's after FENCE_AFTER, the others' after HEALTH_INTERVAL", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf({ FENCE_AFTER: "2s", HEALTH_INTERVAL: "5" })
      const s = at(initialState(T0), { verdicts: Option.some(verdicts(true)) })
      assert.isTrue(verdictLine(settings, s, "master", T0 + 2000).pass)
      assert.deepStrictEqual(verdictLine(settings, s, "master", T0 + 2001), {
        pass: false,
        line: "fail: not confirmed by the sentinels for 2s: master with 2 connected replica(s)"
      })
      assert.isTrue(verdictLine(settings, s, "sentinel", T0 + 5000).pass)
      assert.isFalse(verdictLine(settings, s, "sentinel", T0 + 5001).pass)
      const unfenced = yield* settingsOf({ FENCE_AFTER: "0s", HEALTH_INTERVAL: "5" })
      assert.isTrue(verdictLine(unfenced, s, "master", T0 + 5000).pass, "without fencing the master holds a HEALTH_INTERVAL")
    }))
})

describe("agent /health", () => {
  const stall = Duration.toMillis(Duration.sum(Duration.times(fastTimings.observeEvery, 3), fastTimings.observation))
  const healthy = at(initialState(T0), {
    observation: Option.some(observed(masterWithTwo)),
    cycles: 12,
    lastCycle: Option.some({ at: T0, trigger: "tick", tookMs: 2 }),
    consul: { lastSync: Option.some({ at: T0, problem: Option.none() }), everRegistered: new Set(), paused: false, lastBackup: Option.none() }
  })

  it("the loop is alive up to three observation periods plus one observation's budget after its last cycle (or its start), not after", () => {
    assert.isTrue(loopAlive(healthy, fastTimings, T0 + stall))
    assert.isFalse(loopAlive(healthy, fastTimings, T0 + stall + 1))
    assert.isTrue(loopAlive(initialState(T0), fastTimings, T0 + stall), "counted from the start before the first cycle")
    assert.isFalse(loopAlive(initialState(T0), fastTimings, T0 + stall + 1))
  })

  it("ok only when Redis, Sentinel and Consul all answered; otherwise each problem is named", () => {
    assert.deepStrictEqual(healthLine(healthy, fastTimings, T0), { pass: true, line: "ok: 12 observations, Redis, Sentinel and Consul answer" })
    assert.deepStrictEqual(healthLine(healthy, fastTimings, T0 + stall + 1), { pass: false, line: "fail: the observation loop has stalled" })
    assert.deepStrictEqual(healthLine(initialState(T0), fastTimings, T0), { pass: false, line: "fail: not observed yet; Consul: not synced yet" })
    const broken = at(healthy, {
      observation: Option.some({ ...observed(undefined), localSentinel: { _tag: "Unseen", reason: "timeout" } }),
      consul: { ...healthy.consul, lastSync: Option.some({ at: T0, problem: Option.some("unreachable") }) }
    })
    assert.deepStrictEqual(healthLine(broken, fastTimings, T0), {
      pass: false,
      line: "fail: Redis: connect ECONNREFUSED; Sentinel: timeout; Consul: unreachable"
    })
  })
})

describe("agent /metrics", () => {
  const sample = (text: string, name: string, labels = ""): number | undefined => {
    const line = text.split("\n").find((l) => l.startsWith(`autopilot_redis_${name}${labels} `))
    return line === undefined ? undefined : Number(line.split(" ").at(-1))
  }

  it.effect("a master: role, replicas and each one's lag, checks, pause, priority, failovers, the backup's age and size", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf()
      const s = at(initialState(T0), {
        observation: Option.some(observed(masterWithTwo)),
        verdicts: Option.some(verdicts(true)),
        priority: { current: Option.some(0), restorePending: true },
        consul: {
          lastSync: Option.none(),
          everRegistered: new Set(),
          paused: true,
          lastBackup: Option.some({ id: "b", createdAt: "2026-12-03T05:59:00.000Z", node: "node-2", bytes: 4096, sha256: "c".repeat(64), store: "local", path: "b", redisVersion: "7.0.15" })
        },
        failovers: { seen: 3, last: Option.none() }
      })
      const text = yield* metricsText(settings, s, T0)
      assert.strictEqual(sample(text, "is_master"), 1)
      assert.strictEqual(sample(text, "connected_replicas"), 2)
      assert.strictEqual(sample(text, "replication_offset"), 5000)
      assert.strictEqual(sample(text, "replica_lag_bytes", `{replica="10.0.0.12:6379"}`), 1000)
      assert.strictEqual(sample(text, "replica_lag_bytes", `{replica="10.0.0.13:6379"}`), 0)
      assert.strictEqual(sample(text, "master_link_up"), 0)
      assert.strictEqual(sample(text, "check_passing", `{check="master"}`), 1)
      assert.strictEqual(sample(text, "check_passing", `{check="replica"}`), 0)
      assert.strictEqual(sample(text, "check_passing", `{check="sentinel"}`), 1)
      assert.strictEqual(sample(text, "paused"), 1)
      assert.strictEqual(sample(text, "replica_priority"), 0)
      assert.strictEqual(sample(text, "failovers_seen"), 3)
      assert.strictEqual(sample(text, "last_backup_age_seconds"), 60)
      assert.strictEqual(sample(text, "last_backup_bytes"), 4096)
    }))

  it.effect("a replica with its link up, then down; no verdicts yet: every check 0", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf()
      const up = yield* metricsText(settings, at(initialState(T0), { observation: Option.some(observed({ _tag: "Replica", master: redisAt(2), state: "connected", offset: 42 })) }), T0)
      assert.deepStrictEqual([sample(up, "is_master"), sample(up, "connected_replicas"), sample(up, "master_link_up"), sample(up, "replication_offset")], [0, 0, 1, 42])
      assert.strictEqual(sample(up, "check_passing", `{check="replica"}`), 0)
      const down = yield* metricsText(settings, at(initialState(T0), { observation: Option.some(observed({ _tag: "Replica", master: redisAt(2), state: "connect", offset: 42 })) }), T0)
      assert.strictEqual(sample(down, "master_link_up"), 0)
    }))
})
