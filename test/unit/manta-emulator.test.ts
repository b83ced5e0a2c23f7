// Conformance of the Manta emulator, driven through the real `manta` client
// (and, for wire details the client hides, raw signed HTTP requests).
import { createHash, randomBytes } from "node:crypto"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from "node:http"
import { Agent as HttpsAgent } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import manta, { type ClientOptions, type DirectoryEntry, type MantaClient, type MantaError, type ObjectInfo, type PutOptions } from "manta"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { generateTestKey, type TestKey } from "../support/manta/keys.ts"
import { testTls } from "../support/manta/tls.ts"
import { type EmulatorAccount, type MantaAction, type MantaEmulator, type MantaEmulatorOptions, startMantaEmulator } from "../support/manta/MantaEmulator.ts"

// --- Helpers ---------------------------------------------------------------------

type Outcome<T> = { readonly err: MantaError; readonly value?: undefined } | { readonly err: null; readonly value: T }

const settle = <T>(run: (done: (err: MantaError | null, value: T) => void) => void): Promise<Outcome<T>> =>
  new Promise((resolve) => run((err, value) => resolve(err === null ? { err, value } : { err })))

const ok = <T>(outcome: Outcome<T>): T => {
  if (outcome.err !== null) assert.fail(`expected success, got ${outcome.err.name}: ${outcome.err.message}`)
  return outcome.value
}

const failed = <T>(outcome: Outcome<T>): MantaError => {
  if (outcome.err === null) return assert.fail("expected an error, the call succeeded")
  return outcome.err
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Polls `condition` (the emulator settles asynchronously) for up to 5 s. */
const waitUntil = async (condition: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 5000
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail("condition not met within 5 s")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const md5 = (data: Buffer): string => createHash("md5").update(data).digest("base64")
const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex")

const chunks = (data: Buffer, size: number): Readable =>
  Readable.from(
    (function* () {
      for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
    })()
  )

const put = (c: MantaClient, path: string, data: Buffer, options: PutOptions = { size: data.length }) =>
  settle<IncomingMessage | undefined>((done) => c.put(path, chunks(data, 64 * 1024), options, (err, res) => done(err, res)))
const mkdir = (c: MantaClient, path: string) => settle<undefined>((done) => c.mkdir(path, (err) => done(err, undefined)))
const mkdirp = (c: MantaClient, path: string) => settle<undefined>((done) => c.mkdirp(path, (err) => done(err, undefined)))
const unlink = (c: MantaClient, path: string) => settle<undefined>((done) => c.unlink(path, (err) => done(err, undefined)))
const ln = (c: MantaClient, source: string, path: string) =>
  settle<undefined>((done) => c.ln(source, path, (err) => done(err, undefined)))
const info = (c: MantaClient, path: string) => settle<ObjectInfo>((done) => c.info(path, (err, i) => done(err, i)))

/** GET through the client: the callback's outcome, then the stream's (bytes or its error). */
const get = async (c: MantaClient, path: string): Promise<Outcome<Outcome<Buffer>>> =>
  settle<Outcome<Buffer>>((done) =>
    c.get(path, (err, stream) => {
      if (err !== null || stream === null) {
        done(err ?? new Error("no stream"), { err: new Error("no stream") })
        return
      }
      const parts: Array<Buffer> = []
      stream.on("data", (chunk: Buffer) => parts.push(chunk))
      stream.once("error", (error: MantaError) => done(null, { err: error }))
      stream.once("end", () => done(null, { err: null, value: Buffer.concat(parts) }))
    })
  )

const ls = (c: MantaClient, dir: string) =>
  settle<ReadonlyArray<DirectoryEntry>>((done) =>
    c.ls(dir, (err, emitter) => {
      if (err !== null) {
        done(err, [])
        return
      }
      const entries: Array<DirectoryEntry> = []
      emitter.on("entry", (entry) => entries.push(entry))
      emitter.once("error", (error) => done(error, []))
      emitter.once("end", () => done(null, entries))
    })
  )

interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** Whether a 100 Continue arrived before the answer. */
  readonly continued: boolean
}

interface RawSigner {
  readonly user: string
  readonly key: TestKey
}

/** One request on its own connection, signed like the client signs (`date` only) when `as` is given. */
const raw = async (
  emulator: MantaEmulator,
  method: string,
  path: string,
  options: { as?: RawSigner; headers?: Record<string, string>; date?: Date; body?: Buffer } = {}
): Promise<RawResponse> => {
  const date = (options.date ?? new Date()).toUTCString()
  const headers: Record<string, string> = { date, ...options.headers }
  const signer = options.as
  if (signer !== undefined) {
    const sign = manta.privateKeySigner({ key: signer.key.privateKey, user: signer.user })
    const signature = await new Promise<{ algorithm: string; signature: string }>((resolve, reject) =>
      sign(`date: ${date}`, (err, result) => (err !== null || result === undefined ? reject(err) : resolve(result)))
    )
    headers["authorization"] =
      `Signature keyId="/${signer.user}/keys/${signer.key.fingerprintMd5}",algorithm="${signature.algorithm}",` +
      `headers="date",signature="${signature.signature}"`
  }
  return new Promise((resolve, reject) => {
    let continued = false
    const req = request(`${emulator.url}${path}`, { method, headers, agent: false }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => parts.push(chunk))
      res.once("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString("utf8"), continued })
      )
    })
    req.once("error", reject)
    const body = options.body
    if (headers["expect"] === "100-continue") {
      req.once("continue", () => {
        continued = true
        req.end(body)
      })
      req.flushHeaders()
    } else {
      req.end(body)
    }
  })
}

// --- Fixtures ----------------------------------------------------------------------

const keys = {
  rsa: generateTestKey("rsa"),
  ecdsa: generateTestKey("ecdsa"),
  ed25519: generateTestKey("ed25519"),
  bob: generateTestKey("ed25519"),
  carol: generateTestKey("rsa"),
  eve: generateTestKey("ecdsa"),
  stranger: generateTestKey("ed25519")
}

const everything: ReadonlyArray<MantaAction> = ["getobject", "getdirectory", "putobject", "putdirectory", "putlink", "deleteobject", "deletedirectory"]

const accounts: ReadonlyArray<EmulatorAccount> = [
  {
    login: "alice",
    keys: [keys.rsa.publicKeySsh, keys.ecdsa.publicKeySsh, keys.ed25519.publicKeySsh],
    subusers: [
      { login: "bob", keys: [keys.bob.publicKeySsh] },
      { login: "carol", keys: [keys.carol.publicKeySsh] }
    ],
    roles: [
      { name: "backup", members: ["bob"], defaultMembers: ["bob"], rules: everything },
      { name: "reader", members: ["bob", "carol"], rules: ["getobject", "getdirectory"] }
    ]
  },
  { login: "eve", keys: [keys.eve.publicKeySsh] }
]

const clients: Array<MantaClient> = []
const emulators: Array<MantaEmulator> = []

const clientOf = (
  emulator: MantaEmulator,
  key: TestKey,
  user = "alice",
  subuser?: string,
  requestTimeout?: number,
  extra: Partial<ClientOptions> = {}
): MantaClient => {
  const sign =
    subuser === undefined
      ? manta.privateKeySigner({ key: key.privateKey, user })
      : manta.privateKeySigner({ key: key.privateKey, user, subuser })
  const client = manta.createClient({
    url: emulator.url,
    user,
    ...(subuser === undefined ? {} : { subuser }),
    sign,
    retry: false,
    ...extra
  })
  if (requestTimeout !== undefined) {
    client.client.requestTimeout = requestTimeout
    client.jsonClient.requestTimeout = requestTimeout
  }
  clients.push(client)
  return client
}

const startEmulator = async (options: Partial<MantaEmulatorOptions> = {}): Promise<MantaEmulator> => {
  const emulator = await startMantaEmulator({ accounts, ...options })
  emulators.push(emulator)
  return emulator
}

afterAll(async () => {
  for (const client of clients) client.close()
  await Promise.all(emulators.map((emulator) => emulator.close()))
})

// --- Conformance -------------------------------------------------------------------

describe("Manta emulator through the manta client", () => {
  let emu: MantaEmulator
  let alice: MantaClient
  const as = (key: TestKey, user = "alice"): RawSigner => ({ user, key })

  beforeAll(async () => {
    emu = await startEmulator()
    alice = clientOf(emu, keys.ecdsa)
    ok(await settle<undefined>((done) => alice.mkdir("/alice/stor/shared", { headers: { "role-tag": "backup" } }, (err) => done(err, undefined))))
  })

  describe("authentication", () => {
    it("accepts RSA, ECDSA and ed25519 signatures", async () => {
      for (const key of [keys.rsa, keys.ecdsa, keys.ed25519]) {
        const result = ok(await info(clientOf(emu, key), "/alice/stor"))
        assert.strictEqual(result.extension, "directory")
      }
      const heads = emu.requests().filter((r) => r.method === "HEAD" && r.path === "/alice/stor")
      assert.deepStrictEqual(
        heads.map((r) => [r.status, r.signed]),
        [
          [200, true],
          [200, true],
          [200, true]
        ]
      )
    })

    it("refuses a request signed by an unknown key: 403 KeyDoesNotExist naming the keyId", async () => {
      const stranger = clientOf(emu, keys.stranger)
      const err = failed(await mkdir(stranger, "/alice/stor/not-created"))
      assert.strictEqual(err.statusCode, 403)
      assert.strictEqual(err.code, "KeyDoesNotExist")
      assert.strictEqual(err.message, `/alice/keys/${keys.stranger.fingerprintMd5} does not exist`)
      // HEAD answers carry no body, so only the status tells.
      const headErr = failed(await info(stranger, "/alice/stor"))
      assert.strictEqual(headErr.statusCode, 403)
      assert.notInclude(await emu.list("/alice/stor"), "not-created")
      const last = emu.requests().at(-1)
      assert.deepStrictEqual(last, { method: "HEAD", path: "/alice/stor", status: 403, signed: false })
    })

    it("refuses unsigned requests and signatures over a stale date", async () => {
      const unsigned = await raw(emu, "GET", "/alice/stor")
      assert.strictEqual(unsigned.status, 403)
      assert.strictEqual(JSON.parse(unsigned.body).code, "InvalidSignature")
      const stale = await raw(emu, "GET", "/alice/stor", { as: as(keys.rsa), date: new Date(Date.now() - 600_000) })
      assert.strictEqual(stale.status, 403)
      const fresh = await raw(emu, "GET", "/alice/stor", { as: as(keys.rsa) })
      assert.strictEqual(fresh.status, 200)
    })

    it("accepts a subuser's key only as that subuser (keyId /alice/bob/keys/…)", async () => {
      const bob = clientOf(emu, keys.bob, "alice", "bob")
      ok(await info(bob, "/alice/stor/shared"))
      const bobAsAlice = clientOf(emu, keys.bob)
      assert.strictEqual(failed(await info(bobAsAlice, "/alice/stor/shared")).statusCode, 403)
    })

    it("refuses another account's namespace: 403 AuthorizationFailed", async () => {
      const eve = clientOf(emu, keys.eve, "eve")
      const err = failed(await mkdir(eve, "/alice/stor/eve-was-here"))
      assert.strictEqual(err.statusCode, 403)
      assert.strictEqual(err.code, "AuthorizationFailed")
      ok(await mkdir(eve, "/eve/stor/mine"))
    })
  })

  describe("directories", () => {
    it("mkdirp PUTs each missing level below /alice/stor, in order", async () => {
      const before = emu.requests().length
      ok(await mkdirp(alice, "/alice/stor/tree/2024/01"))
      assert.deepStrictEqual(
        emu.requests().slice(before).map((r) => `${r.method} ${r.path} ${r.status}`),
        ["PUT /alice/stor/tree 204", "PUT /alice/stor/tree/2024 204", "PUT /alice/stor/tree/2024/01 204"]
      )
      ok(await mkdir(alice, "/alice/stor/tree/2024")) // an existing directory is fine
      assert.deepStrictEqual(await emu.list("/alice/stor/tree/2024"), ["01"])
      const missingParent = failed(await mkdir(alice, "/alice/stor/nowhere/deeper"))
      assert.strictEqual(missingParent.statusCode, 404)
      assert.strictEqual(missingParent.code, "DirectoryDoesNotExist")
    })

    it("deletes only empty directories: 400 DirectoryNotEmpty", async () => {
      ok(await mkdirp(alice, "/alice/stor/full/inner"))
      const err = failed(await unlink(alice, "/alice/stor/full"))
      assert.strictEqual(err.statusCode, 400)
      assert.strictEqual(err.code, "DirectoryNotEmpty")
      ok(await unlink(alice, "/alice/stor/full/inner"))
      ok(await unlink(alice, "/alice/stor/full"))
      assert.notInclude(await emu.list("/alice/stor"), "full")
      assert.strictEqual(failed(await unlink(alice, "/alice/stor/stor-root-is-not-this")).statusCode, 404)
      assert.strictEqual(failed(await unlink(alice, "/alice/stor")).statusCode, 400)
    })

    it("ls pages through more than 1024 entries with the inclusive marker", async () => {
      ok(await mkdir(alice, "/alice/stor/many"))
      const names = Array.from({ length: 1100 }, (_, i) => `e${String(i).padStart(4, "0")}`)
      for (let i = 0; i < names.length; i += 50) {
        await Promise.all(names.slice(i, i + 50).map(async (name) => ok(await mkdir(alice, `/alice/stor/many/${name}`))))
      }
      const before = emu.requests().length
      const entries = ok(await ls(alice, "/alice/stor/many"))
      assert.deepStrictEqual(
        entries.map((e) => e.name),
        names
      )
      assert.isTrue(entries.every((e) => e.type === "directory" && e.parent === "/alice/stor/many"))
      assert.deepStrictEqual(
        emu.requests().slice(before).map((r) => r.method),
        ["HEAD", "GET", "GET"]
      )
    })

    it("answers listings like muskie: limit (default 256, max 1024), inclusive marker, x-json-stream lines", async () => {
      ok(await mkdir(alice, "/alice/stor/abc"))
      for (const name of ["c", "a", "b"]) ok(await put(alice, `/alice/stor/abc/${name}`, Buffer.from(name)))
      ok(await mkdir(alice, "/alice/stor/abc/d"))
      const page = await raw(emu, "GET", "/alice/stor/abc?limit=2&marker=b", { as: as(keys.rsa) })
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.headers["content-type"], "application/x-json-stream; type=directory")
      assert.strictEqual(page.headers["result-set-size"], "4")
      const lines = page.body
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
      assert.deepStrictEqual(
        lines.map((l) => [l.name, l.type]),
        [
          ["b", "object"],
          ["c", "object"]
        ]
      )
      assert.deepStrictEqual(Object.keys(lines[0]).sort(), [
        "contentMD5",
        "contentType",
        "durability",
        "etag",
        "mtime",
        "name",
        "size",
        "type"
      ])
      assert.strictEqual(lines[0].contentMD5, md5(Buffer.from("b")))
      const full = await raw(emu, "GET", "/alice/stor/abc", { as: as(keys.rsa) })
      assert.deepStrictEqual(JSON.parse(full.body.trim().split("\n")[3] ?? "{}").type, "directory")
      const tooMany = await raw(emu, "GET", "/alice/stor/abc?limit=1025", { as: as(keys.rsa) })
      assert.strictEqual(tooMany.status, 400)
      assert.strictEqual(JSON.parse(tooMany.body).code, "InvalidArgumentError")
      const head = await raw(emu, "HEAD", "/alice/stor/abc", { as: as(keys.rsa) })
      assert.strictEqual(head.status, 200)
      assert.strictEqual(head.headers["result-set-size"], "4")
      assert.strictEqual(head.body, "")
    })
  })

  describe("objects", () => {
    it("put with mkdirs:true creates the parents after a 404 sent before 100 Continue", async () => {
      const before = emu.requests().length
      const data = Buffer.from("made the parents")
      ok(await put(alice, "/alice/stor/auto/a/b/x.txt", data, { size: data.length, mkdirs: true }))
      assert.deepStrictEqual(
        emu.requests().slice(before).map((r) => `${r.method} ${r.path} ${r.status}`),
        [
          "PUT /alice/stor/auto/a/b/x.txt 404",
          "PUT /alice/stor/auto 204",
          "PUT /alice/stor/auto/a 204",
          "PUT /alice/stor/auto/a/b 204",
          "PUT /alice/stor/auto/a/b/x.txt 204"
        ]
      )
      assert.deepStrictEqual(await emu.readObject("/alice/stor/auto/a/b/x.txt"), data)

      // Without mkdirs: DirectoryDoesNotExist, and the body was never read.
      let pulled = false
      const body = Readable.from(
        (function* () {
          pulled = true
          yield Buffer.from("never sent")
        })()
      )
      const err = failed(await settle<undefined>((done) => alice.put("/alice/stor/absent/x", body, { size: 10 }, (e) => done(e, undefined))))
      assert.strictEqual(err.statusCode, 404)
      assert.strictEqual(err.code, "DirectoryDoesNotExist")
      assert.isFalse(pulled)
      const rawRefusal = await raw(emu, "PUT", "/alice/stor/absent/y", {
        as: as(keys.rsa),
        headers: { expect: "100-continue", "content-length": "3" },
        body: Buffer.from("abc")
      })
      assert.deepStrictEqual([rawRefusal.status, rawRefusal.continued], [404, false])
    })

    it("stores bodies sent with content-length and chunked, with their headers", async () => {
      const sized = Buffer.from("sized body")
      const res = ok(await put(alice, "/alice/stor/sized.bin", sized, { size: sized.length, copies: 3, headers: { "m-sha256": sha256(sized) } }))
      assert.strictEqual(res?.statusCode, 204)
      assert.strictEqual(res?.headers["computed-md5"], md5(sized))
      assert.isString(res?.headers["etag"])

      const chunked = randomBytes(300_000)
      ok(await put(alice, "/alice/stor/chunked.rdb.gz", chunked, {}))
      assert.deepStrictEqual(await emu.readObject("/alice/stor/chunked.rdb.gz"), chunked)
      const chunkedInfo = ok(await info(alice, "/alice/stor/chunked.rdb.gz"))
      assert.strictEqual(chunkedInfo.size, chunked.length)
      assert.strictEqual(chunkedInfo.md5, md5(chunked))
      assert.strictEqual(chunkedInfo.type, "application/gzip") // the client guesses it from ".gz"

      const sizedInfo = ok(await info(alice, "/alice/stor/sized.bin"))
      assert.strictEqual(sizedInfo.type, "application/octet-stream")
      assert.strictEqual(sizedInfo.extension, "bin")
      assert.strictEqual(sizedInfo.headers["durability-level"], "3")
      assert.strictEqual(sizedInfo.headers["m-sha256"], sha256(sized))
      assert.strictEqual(sizedInfo.headers["accept-ranges"], "bytes")
      assert.strictEqual(sizedInfo.etag, res?.headers["etag"])
      assert.isString(sizedInfo.headers["last-modified"])
    })

    it("refuses a body whose md5 does not match: 400 ContentMD5Mismatch, the old version stays", async () => {
      const original = Buffer.from("original")
      ok(await put(alice, "/alice/stor/md5.bin", original, { size: original.length, md5: md5(original) }))
      const other = Buffer.from("replacement")
      const err = failed(await put(alice, "/alice/stor/md5.bin", other, { size: other.length, md5: md5(original) }))
      assert.strictEqual(err.statusCode, 400)
      assert.strictEqual(err.code, "ContentMD5Mismatch")
      assert.deepStrictEqual(await emu.readObject("/alice/stor/md5.bin"), original)
      assert.isUndefined(await emu.readObject("/alice/stor/never.bin"))
      failed(await put(alice, "/alice/stor/never.bin", other, { md5: md5(original) }))
      assert.isUndefined(await emu.readObject("/alice/stor/never.bin"))
    })

    it("refuses an object under an object (ParentNotDirectory) or over a directory", async () => {
      ok(await put(alice, "/alice/stor/plain", Buffer.from("x")))
      const under = failed(await put(alice, "/alice/stor/plain/child", Buffer.from("y")))
      assert.deepStrictEqual([under.statusCode, under.code], [400, "ParentNotDirectory"])
      ok(await mkdir(alice, "/alice/stor/a-dir"))
      const over = failed(await put(alice, "/alice/stor/a-dir", Buffer.from("y")))
      assert.deepStrictEqual([over.statusCode, over.code], [400, "OperationNotAllowedOnDirectory"])
    })

    it("streams a multi-MB object both ways intact (sha256)", async () => {
      const data = randomBytes(8 * 1024 * 1024 + 17)
      const res = ok(await put(alice, "/alice/stor/big.rdb.gz", data, { size: data.length, md5: md5(data) }))
      assert.strictEqual(res?.headers["computed-md5"], md5(data))
      const body = ok(ok(await get(alice, "/alice/stor/big.rdb.gz")))
      assert.strictEqual(sha256(body), sha256(data))
    })

    it("GET/HEAD of a missing object: 404 ResourceNotFound (HEAD without a body)", async () => {
      const getErr = failed(await get(alice, "/alice/stor/missing"))
      assert.deepStrictEqual([getErr.statusCode, getErr.code, getErr.name], [404, "ResourceNotFound", "ResourceNotFoundError"])
      const headErr = failed(await info(alice, "/alice/stor/missing"))
      assert.deepStrictEqual([headErr.statusCode, headErr.code, headErr.name], [404, "NotFoundError", "NotFoundError"])
    })

    it("serves ranges with if-match, as the client's resume asks for the rest", async () => {
      const data = Buffer.from("0123456789")
      ok(await put(alice, "/alice/stor/ranged", data))
      const { etag } = ok(await info(alice, "/alice/stor/ranged"))
      assert.isString(etag)
      const rest = await raw(emu, "GET", "/alice/stor/ranged", {
        as: as(keys.ecdsa),
        headers: { range: "bytes=4-10", "if-match": etag ?? "" }
      })
      assert.strictEqual(rest.status, 206)
      assert.strictEqual(rest.body, "456789")
      assert.strictEqual(rest.headers["content-range"], "bytes 4-9/10")
      assert.strictEqual(rest.headers["content-md5"], md5(data))
      const changed = await raw(emu, "GET", "/alice/stor/ranged", {
        as: as(keys.ecdsa),
        headers: { range: "bytes=4-10", "if-match": "another-etag" }
      })
      assert.strictEqual(changed.status, 412)
      const beyond = await raw(emu, "GET", "/alice/stor/ranged", { as: as(keys.ecdsa), headers: { range: "bytes=10-" } })
      assert.strictEqual(beyond.status, 416)
    })

    it("replaces an object atomically: a reader of the old version gets all of it", async () => {
      const first = randomBytes(2 * 1024 * 1024)
      const second = randomBytes(1024)
      ok(await put(alice, "/alice/stor/atomic", first))
      const reading = await settle<Readable | null>((done) => alice.get("/alice/stor/atomic", (err, stream) => done(err, stream)))
      const stream = ok(reading)
      assert.isNotNull(stream)
      ok(await put(alice, "/alice/stor/atomic", second))
      const parts: Array<Buffer> = []
      for await (const chunk of stream ?? Readable.from([])) parts.push(Buffer.from(chunk as Uint8Array))
      assert.strictEqual(sha256(Buffer.concat(parts)), sha256(first))
      assert.deepStrictEqual(await emu.readObject("/alice/stor/atomic"), second)
    })

    it("snaplinks: ln makes a second name that outlives the source", async () => {
      const data = Buffer.from("dump")
      ok(await put(alice, "/alice/stor/dump.rdb", data))
      ok(await mkdir(alice, "/alice/stor/links"))
      ok(await ln(alice, "/alice/stor/dump.rdb", "/alice/stor/links/latest.rdb"))
      ok(await unlink(alice, "/alice/stor/dump.rdb"))
      assert.deepStrictEqual(ok(ok(await get(alice, "/alice/stor/links/latest.rdb"))), data)
      const missing = failed(await ln(alice, "/alice/stor/dump.rdb", "/alice/stor/links/again.rdb"))
      assert.deepStrictEqual([missing.statusCode, missing.code], [404, "SourceObjectNotFound"])
      const dir = failed(await ln(alice, "/alice/stor/links", "/alice/stor/links-link"))
      assert.deepStrictEqual([dir.statusCode, dir.code], [400, "LinkNotObject"])
      assert.isUndefined(await emu.readObject("/alice/stor/dump.rdb"))
    })

    it("corruptObject keeps the recorded md5, so the client's GET fails with ChecksumError", async () => {
      const data = randomBytes(100_000)
      ok(await put(alice, "/alice/stor/rotten.rdb.gz", data))
      await emu.corruptObject("/alice/stor/rotten.rdb.gz")
      const stored = await emu.readObject("/alice/stor/rotten.rdb.gz")
      assert.strictEqual(stored?.length, data.length)
      assert.notStrictEqual(sha256(stored ?? Buffer.alloc(0)), sha256(data))
      assert.strictEqual(ok(await info(alice, "/alice/stor/rotten.rdb.gz")).md5, md5(data))
      // The GET itself succeeds; the stream errors once all bytes have arrived.
      const streamed = ok(await get(alice, "/alice/stor/rotten.rdb.gz"))
      const err = failed(streamed)
      assert.strictEqual(err.name, "ChecksumError")
      assert.strictEqual(err.statusCode, undefined)
    })
  })
})

describe("Manta emulator failure modes", () => {
  it("down: connection refused at once with retry:false, and back", async () => {
    const emu = await startEmulator()
    const client = clientOf(emu, keys.ecdsa)
    await emu.setMode("down")
    const started = Date.now()
    const err = failed(await info(client, "/alice/stor"))
    assert.isBelow(Date.now() - started, 1000)
    assert.strictEqual(err.code, "ECONNREFUSED")
    await emu.setMode("normal")
    ok(await info(client, "/alice/stor"))
  })

  it("hang: a request on a new connection fails with RequestTimeoutError after requestTimeout", async () => {
    const emu = await startEmulator()
    await emu.setMode("hang")
    const client = clientOf(emu, keys.ecdsa, "alice", undefined, 500)
    const started = Date.now()
    const err = failed(await withTimeout(info(client, "/alice/stor"), 5000, "info"))
    assert.strictEqual(err.name, "RequestTimeoutError")
    assert.isAtLeast(Date.now() - started, 450)
    assert.strictEqual(emu.requests().at(-1)?.status, 0)
  })

  it("hang: a request on a reused keep-alive connection gets NO requestTimeout", async () => {
    const emu = await startEmulator()
    const client = clientOf(emu, keys.ecdsa, "alice", undefined, 300)
    // A 204 (unlike a HEAD answer without content-length) leaves the socket in the agent.
    ok(await mkdir(client, "/alice/stor/warm"))
    await emu.setMode("hang")
    const pending = info(client, "/alice/stor")
    const early = await Promise.race([pending.then(() => "settled"), new Promise((r) => setTimeout(() => r("pending"), 1000))])
    assert.strictEqual(early, "pending")
    await emu.close() // only dropping the connection ends it
    const err = failed(await withTimeout(pending, 2000, "info after close"))
    assert.strictEqual(err.code, "ECONNRESET")
  })

  it("hang: with agent:false every request opens a connection, so requestTimeout always applies", async () => {
    const emu = await startEmulator()
    const client = manta.createClient({
      url: emu.url,
      user: "alice",
      sign: manta.privateKeySigner({ key: keys.ed25519.privateKey, user: "alice" }),
      retry: false,
      agent: false
    })
    clients.push(client)
    client.client.requestTimeout = client.jsonClient.requestTimeout = 300
    ok(await mkdir(client, "/alice/stor/warm"))
    await emu.setMode("hang")
    const err = failed(await withTimeout(info(client, "/alice/stor"), 3000, "info"))
    assert.strictEqual(err.name, "RequestTimeoutError")
  })

  it("garbage: 200 + HTML; only ls errors, the other calls 'succeed' with nonsense", async () => {
    const emu = await startEmulator()
    const client = clientOf(emu, keys.ecdsa, "alice", undefined, 1000)
    ok(await mkdir(client, "/alice/stor/dir"))
    await emu.setMode("garbage")
    const within = <T>(p: Promise<T>): Promise<T> => withTimeout(p, 3000, "garbage call")

    const listing = failed(await within(ls(client, "/alice/stor/dir")))
    assert.strictEqual(listing.name, "InvalidDirectoryError")

    const meta = ok(await within(info(client, "/alice/stor/dir")))
    assert.strictEqual(meta.extension, "html")
    assert.isUndefined(meta.md5)

    const data = Buffer.from("never uploaded")
    const res = ok(await within(put(client, "/alice/stor/dir/x", data)))
    assert.strictEqual(res?.statusCode, 200)
    assert.isUndefined(res?.headers["computed-md5"])

    const body = ok(ok(await within(get(client, "/alice/stor/dir/x"))))
    assert.include(body.toString("utf8"), "<html>")

    await emu.setMode("normal")
    assert.isUndefined(await emu.readObject("/alice/stor/dir/x"))
  })

  it("close stops listening and removes its storage", async () => {
    const storageDir = await mkdtemp(join(tmpdir(), "manta-emulator-test-"))
    try {
      const servers = (): number => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length
      const baseline = servers()
      const emu = await startMantaEmulator({ accounts, storageDir })
      assert.strictEqual(servers(), baseline + 1)
      const client = manta.createClient({
        url: emu.url,
        user: "alice",
        sign: manta.privateKeySigner({ key: keys.rsa.privateKey, user: "alice" }),
        retry: false
      })
      try {
        ok(await put(client, "/alice/stor/x", randomBytes(1000)))
        assert.lengthOf(await readdir(storageDir), 1)
      } finally {
        client.close()
        await emu.close()
      }
      assert.deepStrictEqual(await readdir(storageDir), [])
      assert.strictEqual(servers(), baseline)
    } finally {
      await rm(storageDir, { recursive: true, force: true })
    }
  })
})

describe("Manta emulator: subusers, roles and role tags (muskie's lib/auth.js)", () => {
  let emu: MantaEmulator
  let alice: MantaClient
  let bob: MantaClient
  const chattr = (c: MantaClient, path: string, roleTag: string) =>
    settle<undefined>((done) => c.chattr(path, { headers: { "role-tag": roleTag } }, (err) => done(err, undefined)))
  const mkdirTagged = (c: MantaClient, path: string, roleTag: string) =>
    settle<undefined>((done) => c.mkdir(path, { headers: { "role-tag": roleTag } }, (err) => done(err, undefined)))

  beforeAll(async () => {
    emu = await startEmulator()
    alice = clientOf(emu, keys.ecdsa)
    bob = clientOf(emu, keys.bob, "alice", "bob")
  })

  it("a subuser creating under an untagged parent: 403 NoMatchingRoleTag; once the parent is tagged it succeeds, tagged with its active roles", async () => {
    const refused = failed(await mkdir(bob, "/alice/stor/bob-backups"))
    assert.deepStrictEqual([refused.statusCode, refused.code, refused.message], [403, "NoMatchingRoleTag", "None of your active roles are present on the resource."])
    assert.notInclude(await emu.list("/alice/stor"), "bob-backups")

    ok(await chattr(alice, "/alice/stor", "backup")) // mchmod +backup ~~/stor
    ok(await mkdir(bob, "/alice/stor/bob-backups"))
    const created = ok(await info(alice, "/alice/stor/bob-backups"))
    assert.strictEqual(created.headers["role-tag"], "backup", "a subuser's new entry carries its active roles")
    const data = Buffer.from("rdb")
    ok(await put(bob, "/alice/stor/bob-backups/x.rdb.gz", data))
    assert.strictEqual(ok(await info(bob, "/alice/stor/bob-backups/x.rdb.gz")).headers["role-tag"], "backup")
    assert.deepStrictEqual(ok(ok(await get(bob, "/alice/stor/bob-backups/x.rdb.gz"))), data)
    assert.deepStrictEqual(ok(await ls(bob, "/alice/stor/bob-backups")).map((e) => e.name), ["x.rdb.gz"])
    ok(await unlink(bob, "/alice/stor/bob-backups/x.rdb.gz"))
    ok(await chattr(alice, "/alice/stor", ""))
  })

  it("the owner's entries carry no tag unless asked (mmkdir --role-tag); an unknown role tag: 409 InvalidRoleTag", async () => {
    ok(await mkdir(alice, "/alice/stor/plain-dir"))
    assert.isUndefined(ok(await info(alice, "/alice/stor/plain-dir")).headers["role-tag"])
    assert.strictEqual(failed(await put(bob, "/alice/stor/plain-dir/x", Buffer.from("x"))).code, "NoMatchingRoleTag")
    ok(await mkdirTagged(alice, "/alice/stor/tagged-dir", "backup"))
    ok(await put(bob, "/alice/stor/tagged-dir/x", Buffer.from("x")))
    const unknown = failed(await mkdirTagged(alice, "/alice/stor/other", "no-such-role"))
    assert.deepStrictEqual([unknown.statusCode, unknown.code, unknown.message], [409, "InvalidRoleTag", 'Role tag "no-such-role" is invalid.'])
    assert.deepStrictEqual([failed(await chattr(alice, "/alice", "backup")).statusCode], [400])
  })

  it("the role header: a role the caller does not hold is 409 InvalidRole; an active role whose rules lack the action is 403 AuthorizationFailed", async () => {
    const asBoss = clientOf(emu, keys.bob, "alice", "bob", undefined, { role: ["administrator"] })
    const invalid = failed(await info(asBoss, "/alice/stor/shared"))
    assert.strictEqual(invalid.statusCode, 409)
    const invalidBody = failed(await mkdir(asBoss, "/alice/stor/shared/x"))
    assert.deepStrictEqual([invalidBody.code, invalidBody.message], ["InvalidRole", 'Role "administrator" is invalid.'])

    ok(await mkdirTagged(alice, "/alice/stor/readable", "reader"))
    const carol = clientOf(emu, keys.carol, "alice", "carol")
    const noActiveRole = failed(await info(carol, "/alice/stor/readable"))
    assert.strictEqual(noActiveRole.statusCode, 403, "reader is not one of carol's default roles")
    const carolReading = clientOf(emu, keys.carol, "alice", "carol", undefined, { role: ["reader"] })
    ok(await info(carolReading, "/alice/stor/readable"))
    const cannotWrite = failed(await mkdir(carolReading, "/alice/stor/readable/sub"))
    assert.deepStrictEqual([cannotWrite.statusCode, cannotWrite.code, cannotWrite.message], [403, "AuthorizationFailed", "alice/carol is not allowed to access /alice/stor/readable/sub"])
  })
})

describe("Manta emulator: the link (rates, stalls) and muskie's upload idle timeout", () => {
  /** An agent whose sockets the test can cut, as a client giving up does. */
  const cuttable = () => new Agent({ keepAlive: false })

  it("a body crosses no faster than the configured rate, both ways", async () => {
    const rate = 128 * 1024
    const emu = await startEmulator({ rates: { upload: rate, download: rate } })
    const client = clientOf(emu, keys.ecdsa)
    const data = randomBytes(64 * 1024)
    const expectedMs = (data.length / rate) * 1000
    let started = Date.now()
    ok(await put(client, "/alice/stor/slow.bin", data))
    assert.isAtLeast(Date.now() - started, expectedMs * 0.95, "the upload")
    started = Date.now()
    assert.strictEqual(sha256(ok(ok(await get(client, "/alice/stor/slow.bin")))), sha256(data))
    assert.isAtLeast(Date.now() - started, expectedMs * 0.95, "the download")
  })

  it("an upload stalled mid-body: nothing more crosses, no answer comes (not even the idle timeout's), nothing is stored once the client gives up", async () => {
    const emu = await startEmulator({ uploadIdleTimeoutMs: 200 })
    const agent = cuttable()
    const client = clientOf(emu, keys.ecdsa, "alice", undefined, undefined, { agent })
    const stall = emu.stallNext({ direction: "upload", afterBytes: 100_000, path: /stalled\.bin$/ })
    let answered = false
    const pending = put(client, "/alice/stor/stalled.bin", randomBytes(2 * 1024 * 1024)).then((outcome) => {
      answered = true
      return outcome
    })
    const stalledAt = await withTimeout(stall.stalled, 5000, "the stall")
    // Twice the idle timeout: through a dead path even muskie's 408 never arrives.
    await new Promise((resolve) => setTimeout(resolve, 400))
    assert.isFalse(answered)
    agent.destroy()
    failed(await withTimeout(pending, 5000, "the put after the cut"))
    assert.isAbove(Date.now(), stalledAt)
    assert.isUndefined(await emu.readObject("/alice/stor/stalled.bin"))
    assert.deepStrictEqual(await emu.list("/alice/stor"), [])
  })

  it("a download stalled mid-body: the headers and the first bytes arrive, then nothing until the client gives up", async () => {
    const emu = await startEmulator()
    const agent = cuttable()
    const client = clientOf(emu, keys.ecdsa, "alice", undefined, undefined, { agent })
    const data = randomBytes(1024 * 1024)
    ok(await put(client, "/alice/stor/big.bin", data))
    const stall = emu.stallNext({ direction: "download", afterBytes: 200_000 })
    let received = 0
    let ended = false
    const opened = await settle<Readable | null>((done) => client.get("/alice/stor/big.bin", (err, stream) => done(err, stream)))
    const stream = ok(opened)
    stream?.on("data", (chunk: Buffer) => (received += chunk.length))
    stream?.on("end", () => (ended = true))
    await withTimeout(stall.stalled, 5000, "the stall")
    await waitUntil(async () => received === 200_000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepStrictEqual([received, ended], [200_000, false])
    agent.destroy()
    await withTimeout(stall.abandoned, 5000, "the client giving up")
  })

  it("an upload whose client stops sending: 408 UploadTimeout after muskie's idle timeout, connection closed, nothing stored", async () => {
    const emu = await startEmulator({ uploadIdleTimeoutMs: 300 })
    const date = new Date().toUTCString()
    const sign = manta.privateKeySigner({ key: keys.rsa.privateKey, user: "alice" })
    const signature = await new Promise<{ algorithm: string; signature: string }>((resolve, reject) =>
      sign(`date: ${date}`, (err, result) => (err !== null || result === undefined ? reject(err) : resolve(result))))
    const started = Date.now()
    const response = await new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      const req = request(`${emu.url}/alice/stor/quiet.bin`, {
        method: "PUT",
        agent: false,
        headers: {
          date,
          expect: "100-continue",
          "content-length": "1000",
          authorization: `Signature keyId="/alice/keys/${keys.rsa.fingerprintMd5}",algorithm="${signature.algorithm}",headers="date",signature="${signature.signature}"`
        }
      }, (res) => {
        let body = ""
        res.on("data", (chunk: Buffer) => (body += chunk.toString()))
        res.once("end", () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }))
      })
      req.once("error", reject)
      req.once("continue", () => req.write(Buffer.alloc(10))) // then nothing more
      req.flushHeaders()
    })
    assert.isAtLeast(Date.now() - started, 300)
    assert.strictEqual(response.status, 408)
    assert.deepStrictEqual(JSON.parse(response.body), { code: "UploadTimeout", message: "request took too long to send data" })
    assert.strictEqual(response.connection, "close")
    assert.isUndefined(await emu.readObject("/alice/stor/quiet.bin"))
  })
})

describe("Manta emulator over HTTPS", () => {
  it("serves https:// to a client trusting the test CA, and a client without it refuses the certificate", async () => {
    const emu = await startEmulator({ tls: testTls.server })
    assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const trusting = clientOf(emu, keys.ecdsa, "alice", undefined, 2000, { agent: new HttpsAgent({ ca: testTls.ca }) })
    const data = randomBytes(100_000)
    ok(await put(trusting, "/alice/stor/tls.bin", data))
    assert.strictEqual(sha256(ok(ok(await get(trusting, "/alice/stor/tls.bin")))), sha256(data))
    const untrusting = clientOf(emu, keys.ecdsa, "alice", undefined, 2000)
    const refused = failed(await info(untrusting, "/alice/stor"))
    assert.match(refused.code ?? refused.message, /SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i)
  })
})
