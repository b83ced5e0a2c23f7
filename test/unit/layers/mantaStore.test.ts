// The Manta store through the real `manta` client against the emulator, built from
// the environment as the handlers build it: transfers bounded by progress (a body
// slower than the header deadline succeeds, a stalled one fails within
// BACKUP_STALL_TIMEOUT and stores nothing), Manta's own idle verdict, both key id
// forms, and a subuser's refusals explained in the operator's terms.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { randomBytes } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import manta, { type MantaClient } from "manta"
import { Context, Effect, Exit, Layer, type Scope, Stream } from "effect"
import { Timings } from "../../../src/domain/Timings.ts"
import { BackupStore, type BackupStoreShape } from "../../../src/layers/BackupStore.ts"
import { Settings } from "../../../src/layers/Settings.ts"
import { fastTimings } from "../../support/harness.ts"
import { generateTestKey, type TestKey } from "../../support/manta/keys.ts"
import { type EmulatorAccount, type MantaEmulator, type MantaEmulatorOptions, startMantaEmulator } from "../../support/manta/MantaEmulator.ts"

const owner = generateTestKey("ecdsa")
const bob = generateTestKey("ed25519")
const accounts: ReadonlyArray<EmulatorAccount> = [{
  login: "alice",
  keys: [owner.publicKeySsh],
  subusers: [{ login: "bob", keys: [bob.publicKeySsh] }],
  roles: [{ name: "backup", members: ["bob"], defaultMembers: ["bob"], rules: ["getobject", "getdirectory", "putobject", "putdirectory", "deleteobject"] }]
}]

/** fastTimings: a 500 ms header deadline, so a body of a few seconds outlasts it many times over. */
const timings = fastTimings

const emulator = (options: Partial<MantaEmulatorOptions> = {}) =>
  Effect.acquireRelease(Effect.promise(() => startMantaEmulator({ accounts, ...options })), (m) => Effect.promise(() => m.close()))

const storeOn = (emu: MantaEmulator, key: TestKey, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const settings = Settings.layerFrom({
      ANNOUNCE_IP: "10.0.0.1",
      BACKUP_STORE: "manta",
      MANTA_URL: emu.url,
      MANTA_USER: "alice",
      MANTA_PRIVATE_KEY: key.privateKey.replaceAll("\n", "#"),
      ...env
    })
    const layer = BackupStore.layer.pipe(Layer.provide(Layer.mergeAll(settings, NodeFileSystem.layer, NodePath.layer)))
    // Built in the test's scope: the store's client lives until the test ends.
    const context = yield* Layer.build(layer).pipe(Effect.provideService(Timings, timings))
    return Context.get(context, BackupStore)
  })

const ownerClient = (emu: MantaEmulator): MantaClient =>
  manta.createClient({ url: emu.url, user: "alice", sign: manta.privateKeySigner({ key: owner.privateKey, user: "alice" }), retry: false })

const promised = <A>(run: (done: (err: Error | null, value?: A) => void) => void): Effect.Effect<A | undefined, Error> =>
  Effect.callback((resume) => run((err, value) => resume(err === null ? Effect.succeed(value) : Effect.fail(err))))

const bytesOf = (data: Buffer, chunk = 16 * 1024): Stream.Stream<Uint8Array> =>
  Stream.fromIterable(Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => data.subarray(i * chunk, (i + 1) * chunk)))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): string => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

const withStore = <A, E>(f: (store: BackupStoreShape, emu: MantaEmulator) => Effect.Effect<A, E, Scope.Scope>, options: Partial<MantaEmulatorOptions> = {}, env: Record<string, string> = {}, key = owner) =>
  Effect.gen(function*() {
    const emu = yield* emulator(options)
    const store = yield* storeOn(emu, key, env)
    return yield* f(store, emu)
  }).pipe(Effect.scoped)

describe("Manta store: transfers bounded by progress, not by a wall clock", () => {
  it.live("an upload and a download each far longer than the header deadline succeed while bytes keep moving", () =>
    withStore((store, emu) =>
      Effect.gen(function*() {
        const data = randomBytes(256 * 1024)
        const rate = 128 * 1024 // 2 s each way, 4× the 500 ms header deadline
        emu.setRates({ upload: rate, download: rate })
        const started = Date.now()
        const stored = yield* store.put("slow.rdb.gz", bytesOf(data))
        assert.isAtLeast(Date.now() - started, 1900, "the emulator's rate held the upload back")
        assert.strictEqual(stored.bytes, data.length)
        const back = Buffer.concat(yield* Stream.runCollect(store.get("slow.rdb.gz")))
        assert.isTrue(back.equals(data))
      })))

  it.live("an upload stalled mid-body fails within BACKUP_STALL_TIMEOUT of the stall, and nothing is stored", () =>
    withStore((store, emu) =>
      Effect.gen(function*() {
        const stall = emu.stallNext({ direction: "upload", afterBytes: 64 * 1024 })
        // More than loopback's socket buffers hold (several MiB), so the client sees the body stop mid-way.
        const exit = yield* store.put("stalled.rdb.gz", bytesOf(randomBytes(24 * 1024 * 1024))).pipe(Effect.exit)
        const failedAt = Date.now()
        const stalledAt = yield* Effect.promise(() => stall.stalled)
        assert.match(failureOf(exit), /put stalled\.rdb\.gz: timeout \(no byte moved for 1s \(BACKUP_STALL_TIMEOUT\) after \d+\.\d MiB sent\)/)
        assert.isAtLeast(failedAt - stalledAt, 900)
        assert.isBelow(failedAt - stalledAt, 3000)
        assert.deepStrictEqual(yield* Effect.promise(() => emu.list("/alice/stor/redis")), [])
      }), {}, { BACKUP_STALL_TIMEOUT: "1s" }))

  it.live("a download stalled mid-body fails within BACKUP_STALL_TIMEOUT, and the connection is cut", () =>
    withStore((store, emu) =>
      Effect.gen(function*() {
        yield* store.put("object.rdb.gz", bytesOf(randomBytes(2 * 1024 * 1024)))
        const stall = emu.stallNext({ direction: "download", afterBytes: 128 * 1024 })
        const exit = yield* Stream.runDrain(store.get("object.rdb.gz")).pipe(Effect.exit)
        assert.match(failureOf(exit), /get object\.rdb\.gz: timeout \(no byte moved for 1s \(BACKUP_STALL_TIMEOUT\) after 0\.1 MiB received\)/)
        const stalledAt = yield* Effect.promise(() => stall.stalled)
        const abandonedAt = yield* Effect.promise(() => stall.abandoned)
        assert.isAtLeast(abandonedAt - stalledAt, 900)
        assert.isBelow(abandonedAt - stalledAt, 3000)
      }), {}, { BACKUP_STALL_TIMEOUT: "1s" }))

  it.live("a source that goes quiet longer than Manta's idle limit meets Manta's own verdict (408 UploadTimeout) before the watchdog", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const quiet = Stream.concat(bytesOf(randomBytes(32 * 1024)), Stream.fromEffect(Effect.as(Effect.sleep("2 seconds"), new Uint8Array(1))))
        const exit = yield* store.put("quiet.rdb.gz", quiet).pipe(Effect.exit)
        assert.match(failureOf(exit), /put quiet\.rdb\.gz: timeout \(request took too long to send data\)/)
      }), { uploadIdleTimeoutMs: 300 }, { BACKUP_STALL_TIMEOUT: "5s" }))
})

describe("Manta store: MANTA_KEY_ID", () => {
  for (const form of ["fingerprintMd5", "fingerprintSha256"] as const) {
    it.live(`${form === "fingerprintMd5" ? "MD5 aa:bb:…" : "SHA256:…"}: checked against the key, and the requests it signs are accepted`, () =>
      withStore((store, emu) =>
        Effect.gen(function*() {
          yield* store.put("signed.rdb.gz", bytesOf(Buffer.from("signed")))
          assert.isTrue(emu.requests().length > 0 && emu.requests().every((r) => r.signed))
        }), {}, { MANTA_KEY_ID: owner[form] }))
  }

  it.live("another key's id, in either form, never reaches the store: the environment check refuses it", () =>
    Effect.gen(function*() {
      const emu = yield* emulator()
      for (const id of [bob.fingerprintMd5, bob.fingerprintSha256]) {
        const exit = yield* storeOn(emu, owner, { MANTA_KEY_ID: id }).pipe(Effect.exit)
        assert.match(failureOf(exit), /InvalidEnvironment/)
        assert.include(failureOf(exit), `does not match MANTA_PRIVATE_KEY, whose fingerprints are ${owner.fingerprintMd5} and ${owner.fingerprintSha256}`)
      }
      assert.deepStrictEqual(emu.requests(), [])
    }).pipe(Effect.scoped))
})

describe("Manta store: a subuser", () => {
  const asBob = { MANTA_SUBUSER: "bob" }

  it.live("an untagged parent: the error names the directory, the missing role tag and the commands; once tagged, the backup goes through", () =>
    withStore((store, emu) =>
      Effect.gen(function*() {
        const refused = yield* store.put("first.rdb.gz", bytesOf(Buffer.from("rdb"))).pipe(Effect.exit)
        assert.include(
          failureOf(refused),
          "mkdir /alice/stor/redis: rejected (/alice/stor has no role tag for any active role of alice/bob (its default roles (MANTA_ROLE is unset)), so Manta refuses putdirectory there (NoMatchingRoleTag). As the account owner, tag it: mchmod +<role> /alice/stor, or create /alice/stor/redis tagged: mmkdir --role-tag=<role> /alice/stor/redis)"
        )
        const alice = ownerClient(emu)
        yield* Effect.addFinalizer(() => Effect.sync(() => alice.close()))
        yield* promised<undefined>((done) => alice.mkdir("/alice/stor/redis", { headers: { "role-tag": "backup" } }, (err) => done(err)))
        yield* store.put("first.rdb.gz", bytesOf(Buffer.from("rdb")))
        assert.deepStrictEqual((yield* store.list).map((o) => o.name), ["first.rdb.gz"])
        assert.strictEqual(Buffer.concat(yield* Stream.runCollect(store.get("first.rdb.gz"))).toString(), "rdb")
        yield* store.remove("first.rdb.gz")
      }), {}, asBob, bob))

  it.live("a directory that exists untagged: the refusal names that directory", () =>
    withStore((store, emu) =>
      Effect.gen(function*() {
        const alice = ownerClient(emu)
        yield* Effect.addFinalizer(() => Effect.sync(() => alice.close()))
        yield* promised<undefined>((done) => alice.mkdir("/alice/stor/redis", (err) => done(err)))
        const refused = yield* store.put("x.rdb.gz", bytesOf(Buffer.from("rdb"))).pipe(Effect.exit)
        assert.include(failureOf(refused), "put x.rdb.gz: rejected (/alice/stor/redis has no role tag for any active role of alice/bob (MANTA_ROLE=backup), so Manta refuses putobject there (NoMatchingRoleTag). As the account owner, tag it: mchmod +backup /alice/stor/redis)")
      }), {}, { ...asBob, MANTA_ROLE: "backup" }, bob))

  it.live("a role the subuser cannot assume, and a key Manta does not know, are named", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const exit = yield* store.list.pipe(Effect.exit)
        assert.include(failureOf(exit), "MANTA_ROLE=administrator names a role alice/bob cannot assume (InvalidRole)")
      }), {}, { ...asBob, MANTA_ROLE: "administrator" }, bob))

  it.live("a key Manta does not know for the subuser is named as such", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const exit = yield* store.list.pipe(Effect.exit)
        assert.include(failureOf(exit), "Manta knows no such key for alice/bob (KeyDoesNotExist)")
      }), {}, asBob, owner))
})
