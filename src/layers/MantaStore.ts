// The Manta backup store (the only file that imports `manta`). HTTP-signature auth
// from MANTA_*; the client's own retries are off (ours are a Schedule) and every
// request has our deadline, because the client has none of its own. An upload counts
// only when Manta answered 204 with a computed-md5 equal to the MD5 of what we sent:
// a server answering garbage must never look like a stored backup.
import { createHash } from "node:crypto"
import type { IncomingMessage } from "node:http"
import type { Readable } from "node:stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import manta, { type Logger, type MantaError, type ObjectInfo } from "manta"
import { Duration, Effect, Option, Redacted, Ref, Schedule, type Scope, Stream } from "effect"
import { type BackupTarget } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { BackupStoreError, type BackupStoreShape, type StoredObject } from "./BackupStore.ts"

type MantaTarget = Extract<BackupTarget, { readonly _tag: "manta" }>

/** The client logs through bunyan unless given a logger; our logs are Effect's. */
const silent: Logger = {
  child: () => silent,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined
}

const reasonOf = (err: MantaError): BackupStoreError["reason"] => {
  if (err.statusCode === 404) return "not-found"
  if (err.statusCode !== undefined) return err.statusCode >= 500 ? "unreachable" : "rejected"
  if (err.name === "RequestTimeoutError" || err.name === "ConnectTimeoutError") return "timeout"
  if (err.name === "ChecksumError" || err.name === "DownloadError") return "unexpected-reply"
  return "unreachable"
}

export const mantaRetry = (base: Duration.Duration) =>
  Schedule.exponential(base).pipe(
    Schedule.upTo({ times: 2 }),
    Schedule.setInputType<BackupStoreError>(),
    Schedule.while(({ input }) => input.retryable)
  )

export const makeMantaStore = (target: MantaTarget): Effect.Effect<BackupStoreShape, BackupStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const timings = yield* Timings
    const store = `manta ${target.url}${target.directory}`
    const failure = (operation: string, reason: BackupStoreError["reason"], detail: string) =>
      new BackupStoreError({ store, operation, reason, detail })

    const sign = yield* Effect.try({
      try: () =>
        manta.privateKeySigner({
          key: Redacted.value(target.privateKey),
          user: target.user,
          ...(Option.isSome(target.subuser) ? { subuser: target.subuser.value } : {})
        }),
      // Never echo the key or the parser's view of it.
      catch: () => failure("sign", "rejected", "MANTA_PRIVATE_KEY is not a usable private key")
    })
    if (Option.isSome(target.keyId) && target.keyId.value.includes(":") && target.keyId.value.toLowerCase() !== sign.keyId.toLowerCase()) {
      return yield* failure("sign", "rejected", `MANTA_KEY_ID ${target.keyId.value} does not match MANTA_PRIVATE_KEY (its fingerprint is ${sign.keyId})`)
    }
    const requestTimeout = Duration.toMillis(timings.storeRequest)
    const client = manta.createClient({
      url: target.url,
      user: target.user,
      ...(Option.isSome(target.subuser) ? { subuser: target.subuser.value } : {}),
      ...(target.roles.length > 0 ? { role: target.roles } : {}),
      sign,
      retry: false,
      // A fresh connection per request: restify's request timeout only starts on connect.
      agent: false,
      connectTimeout: Math.min(requestTimeout, 4000),
      log: silent
    })
    client.client.requestTimeout = requestTimeout
    client.jsonClient.requestTimeout = requestTimeout
    yield* Effect.addFinalizer(() => Effect.sync(() => client.close()))

    const pathOf = (name: string) => `${target.directory}/${name}`

    /** One client call, bounded by our deadline and retried on transport failures. */
    const request = <A>(operation: string, register: (done: (err: MantaError | null, value?: A) => void) => void) =>
      Effect.callback<A, BackupStoreError>((resume) => {
        register((err, value) => {
          if (err !== null) resume(Effect.fail(failure(operation, reasonOf(err), err.message)))
          else if (value === undefined) resume(Effect.fail(failure(operation, "unexpected-reply", "no result")))
          else resume(Effect.succeed(value))
        })
      }).pipe(
        Effect.timeoutOrElse({
          duration: timings.storeRequest,
          orElse: () => Effect.fail(failure(operation, "timeout", `no answer within ${Duration.format(timings.storeRequest)}`))
        }),
        Effect.retry(mantaRetry(timings.retryBase))
      )

    const stat = (name: string): Effect.Effect<Option.Option<StoredObject>, BackupStoreError> =>
      request<ObjectInfo>(`info ${name}`, (done) => client.info(pathOf(name), (err, info) => done(err, err === null ? info : undefined))).pipe(
        Effect.map((info) => (info.extension === "directory" || info.size === undefined ? Option.none() : Option.some({ name, bytes: info.size }))),
        Effect.catchIf((e) => e.reason === "not-found", () => Effect.succeed(Option.none()))
      )

    const put = <E>(name: string, content: Stream.Stream<Uint8Array, E>): Effect.Effect<StoredObject, BackupStoreError | E> =>
      Effect.gen(function*() {
        const md5 = createHash("md5")
        let bytes = 0
        const sourceFailure = yield* Ref.make(Option.none<E>())
        const body = yield* NodeStream.toReadable(
          content.pipe(
            Stream.tap((chunk) => Effect.sync(() => {
              md5.update(chunk)
              bytes += chunk.byteLength
            })),
            Stream.tapError((e) => Ref.set(sourceFailure, Option.some(e)))
          )
        )
        // No retry here: the body stream can be consumed once.
        const response = yield* Effect.callback<IncomingMessage, BackupStoreError>((resume) => {
          client.put(pathOf(name), body, { mkdirs: true, type: "application/gzip" }, (err, res) => {
            if (err !== null) resume(Effect.fail(failure(`put ${name}`, reasonOf(err), err.message)))
            else if (res === undefined) resume(Effect.fail(failure(`put ${name}`, "unexpected-reply", "no response")))
            else resume(Effect.succeed(res))
          })
        }).pipe(
          // A failure of the content (reading the RDB) explains a failed upload better than the upload's error.
          Effect.catch((e) =>
            Effect.flatMap(Ref.get(sourceFailure), (s): Effect.Effect<never, BackupStoreError | E> => (Option.isSome(s) ? Effect.fail(s.value) : Effect.fail(e)))
          )
        )
        const sent = md5.digest("base64")
        const computed = response.headers["computed-md5"]
        if (response.statusCode !== 204 || computed !== sent) {
          return yield* failure(`put ${name}`, "unexpected-reply", `expected 204 with computed-md5 ${sent}, got ${response.statusCode} with ${String(computed)}`)
        }
        return { name, bytes }
      })

    const get = (name: string): Stream.Stream<Uint8Array, BackupStoreError> =>
      Stream.unwrap(
        request<Readable>(`get ${name}`, (done) =>
          client.get(pathOf(name), (err, stream, res) => {
            // Without content-md5 the client cannot check the body: not a Manta object.
            if (err === null && res !== undefined && res.headers["content-md5"] === undefined) {
              stream?.resume()
              return done({ name: "DownloadError", message: "response without content-md5" }, undefined)
            }
            done(err, stream ?? undefined)
          })).pipe(
            Effect.map((readable) =>
              // The client verifies the body's MD5 and fails the stream at its end on a mismatch.
              NodeStream.fromReadable({ evaluate: () => readable, onError: (e) => failure(`get ${name}`, "unexpected-reply", String(e)) })
            )
          )
      )

    const list: Effect.Effect<ReadonlyArray<StoredObject>, BackupStoreError> = request<ReadonlyArray<StoredObject>>("ls", (done) =>
      client.ls(target.directory, (err, emitter) => {
        if (err !== null) return done(err)
        const found: Array<StoredObject> = []
        emitter.on("object", (entry) => found.push({ name: entry.name, bytes: entry.size ?? 0 }))
        emitter.on("error", (e) => done(e))
        emitter.on("end", () => done(null, found))
      })).pipe(Effect.catchIf((e) => e.reason === "not-found", () => Effect.succeed([])))

    const remove = (name: string) =>
      request<true>(`unlink ${name}`, (done) => client.unlink(pathOf(name), (err) => done(err, true))).pipe(Effect.asVoid)

    return { kind: "manta", location: pathOf, put, get, stat, list, remove } satisfies BackupStoreShape
  })
