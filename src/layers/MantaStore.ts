// The Manta backup store (the only file that imports `manta`). The client's own
// retries are off (ours are a Schedule). A metadata call has a short deadline around
// it; a transfer has none, since Manta answers a PUT only after its last byte: it is
// bounded by progress (TransferWatchdog: the header deadline, then BACKUP_STALL_TIMEOUT)
// and by the job's timeout. An upload counts only on 204 with our own MD5 echoed back.
import { createHash } from "node:crypto"
import { Agent as HttpAgent, type IncomingMessage } from "node:http"
import { Agent as HttpsAgent } from "node:https"
import type { Readable } from "node:stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import manta, { type Logger, type MantaClient, type MantaError, type ObjectInfo } from "manta"
import { Data, Duration, Effect, Option, Redacted, Ref, Schedule, type Scope, Stream } from "effect"
import { formatGoDuration } from "../domain/EnvValue.ts"
import { type Attempt, explainRefusal, type Principal } from "../domain/MantaRefusal.ts"
import { type BackupTarget } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { BackupStoreError, type BackupStoreShape, type StoredObject } from "./BackupStore.ts"
import { makeProgress, type Stalled, type TransferLimits } from "./TransferWatchdog.ts"

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
  // Manta's own idle limit (muskie's UploadTimeout): the upload went quiet on its side.
  if (err.statusCode === 408) return "timeout"
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

/** An object PUT refused before its body because the directory is missing: create it, then PUT again. */
class MissingDirectory extends Data.TaggedError("MissingDirectory") {}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf("/")) || "/"

/** The directories below `/<user>/stor` (or `public`) down to `dir`, outermost first: the top two always exist. */
const levelsOf = (dir: string): ReadonlyArray<string> => {
  const segments = dir.split("/").filter((s) => s !== "")
  return segments.slice(2).map((_, i) => `/${segments.slice(0, i + 3).join("/")}`)
}

export const makeMantaStore = (target: MantaTarget, stallTimeout: Duration.Duration): Effect.Effect<BackupStoreShape, BackupStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const timings = yield* Timings
    const store = `manta ${target.url}${target.directory}`
    const failure = (operation: string, reason: BackupStoreError["reason"], detail: string) =>
      new BackupStoreError({ store, operation, reason, detail })
    const principal: Principal = { user: target.user, subuser: Option.getOrUndefined(target.subuser), roles: target.roles }
    const refused = (operation: string, attempt: Attempt) => (err: MantaError): BackupStoreError => {
      // A HEAD answer has no body, so no code: only InvalidRole answers 409 there.
      const code = err.code ?? (err.statusCode === 409 ? "InvalidRole" : undefined)
      const said = err.message !== "" ? err.message : `HTTP ${err.statusCode ?? "error"} ${err.name} (a HEAD answer carries no reason)`
      return failure(operation, reasonOf(err), explainRefusal(principal, code, attempt) ?? said)
    }

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
    // MANTA_KEY_ID was matched against this key by the environment check (Settings.ts).
    const headerMs = Duration.toMillis(timings.storeRequest)
    const clientFor = (agent: HttpAgent | false): MantaClient =>
      manta.createClient({
        url: target.url,
        user: target.user,
        ...(Option.isSome(target.subuser) ? { subuser: target.subuser.value } : {}),
        ...(target.roles.length > 0 ? { role: target.roles } : {}),
        sign,
        retry: false,
        agent,
        connectTimeout: Math.min(headerMs, 4000),
        log: silent
      })
    // Metadata calls: a fresh connection each, since restify's request timeout starts only on connect.
    const client = clientFor(false)
    client.client.requestTimeout = headerMs
    client.jsonClient.requestTimeout = headerMs
    yield* Effect.addFinalizer(() => Effect.sync(() => client.close()))

    /**
     * A transfer's own client: no request timeout (restify's runs until the answer's
     * headers, which for a PUT is after the whole body), and an agent of its own whose
     * sockets are cut when the transfer ends, so a failed or interrupted one leaves no
     * request behind and Manta discards the partial upload.
     */
    const transferClient = Effect.acquireRelease(
      Effect.sync(() => {
        const agent = target.url.startsWith("https:") ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false })
        return { agent, client: clientFor(agent) }
      }),
      ({ agent, client }) => Effect.sync(() => {
        agent.destroy()
        client.close()
      })
    )
    const limits: TransferLimits = { firstByte: timings.storeRequest, idle: stallTimeout }
    const stalled = (operation: string, what: (s: Stalled) => string) => (s: Stalled) =>
      failure(
        operation,
        "timeout",
        s.phase === "first-byte"
          ? `nothing moved within ${formatGoDuration(s.limit)} of the request`
          : `no byte moved for ${formatGoDuration(s.limit)} (BACKUP_STALL_TIMEOUT) ${what(s)}`
      )

    const pathOf = (name: string) => `${target.directory}/${name}`

    /** One metadata call, bounded by our deadline and retried on transport failures. */
    const request = <A>(operation: string, attempt: Attempt, register: (done: (err: MantaError | null, value?: A) => void) => void) =>
      Effect.callback<A, BackupStoreError>((resume) => {
        register((err, value) => {
          if (err !== null) resume(Effect.fail(refused(operation, attempt)(err)))
          else if (value === undefined) resume(Effect.fail(failure(operation, "unexpected-reply", "no result")))
          else resume(Effect.succeed(value))
        })
      }).pipe(
        Effect.timeoutOrElse({
          duration: timings.storeRequest,
          orElse: () => Effect.fail(failure(operation, "timeout", `no answer within ${formatGoDuration(timings.storeRequest)}`))
        }),
        Effect.retry(mantaRetry(timings.retryBase))
      )

    const info = (path: string, operation: string) =>
      request<ObjectInfo>(operation, { action: "getobject", resource: path }, (done) =>
        client.info(path, (err, found) => done(err, err === null ? found : undefined)))

    const stat = (name: string): Effect.Effect<Option.Option<StoredObject>, BackupStoreError> =>
      info(pathOf(name), `info ${name}`).pipe(
        Effect.map((found) => (found.extension === "directory" || found.size === undefined ? Option.none() : Option.some({ name, bytes: found.size }))),
        Effect.catchIf((e) => e.reason === "not-found", () => Effect.succeed(Option.none()))
      )

    /**
     * Creates the missing directories down to `dir`, as the client's mkdirs would, but
     * one level at a time, so a refusal names the directory that lacks the role tag.
     * A HEAD that is refused (403) still shows the directory exists: Manta answers 404
     * for a missing entry whatever the caller may read.
     */
    const ensureDirectory = (dir: string) =>
      Effect.gen(function*() {
        const levels = levelsOf(dir)
        let missingFrom = levels.length
        for (let i = levels.length - 1; i >= 0; i--) {
          const level = levels[i] ?? dir
          const found = yield* info(level, `info ${level}`).pipe(
            Effect.as(true),
            Effect.catchIf((e) => e.reason === "not-found", () => Effect.succeed(false)),
            Effect.catchIf((e) => e.reason === "rejected", () => Effect.succeed(true))
          )
          if (found) break
          missingFrom = i
        }
        for (const level of levels.slice(missingFrom)) {
          yield* request<true>(`mkdir ${level}`, { action: "putdirectory", resource: parentOf(level), creating: level }, (done) =>
            client.mkdir(level, (err) => done(err, true)))
        }
      })

    /** One PUT of `body`, bounded by its progress. */
    const upload = (name: string, body: Readable) =>
      Effect.scoped(Effect.gen(function*() {
        const operation = `put ${name}`
        const { client: transfer } = yield* transferClient
        const progress = yield* makeProgress
        // A 'data' listener sees what the client hands to the request; the body is paused, so it does not start the flow.
        const onData = (chunk: Buffer) => progress.moved(chunk.byteLength)
        body.on("data", onData)
        yield* Effect.addFinalizer(() => Effect.sync(() => body.off("data", onData)))
        const answered = Effect.callback<IncomingMessage, BackupStoreError | MissingDirectory>((resume) => {
          transfer.put(pathOf(name), body, { type: "application/gzip" }, (err, res) => {
            progress.moved(0)
            if (err !== null) {
              resume(Effect.fail(err.code === "DirectoryDoesNotExist" ? new MissingDirectory() : refused(operation, { action: "putobject", resource: target.directory })(err)))
            } else if (res === undefined) resume(Effect.fail(failure(operation, "unexpected-reply", "no response")))
            else resume(Effect.succeed(res))
          })
        })
        return yield* answered.pipe(
          Effect.raceFirst(progress.watch(limits, stalled(operation, (s) =>
            // Sent means handed to the socket: the kernel's buffers drain within the same window.
            `after ${mib(s.bytes)} sent${body.readableEnded ? " (all of it, then no answer)" : ""}`)))
        )
      }))

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
        body.pause()
        // No retry of the body: it can be consumed once. A refusal before 100 Continue leaves it unread.
        const response = yield* upload(name, body).pipe(
          Effect.catchTag("MissingDirectory", () =>
            ensureDirectory(target.directory).pipe(
              Effect.andThen(upload(name, body)),
              Effect.catchTag("MissingDirectory", () => Effect.fail(failure(`put ${name}`, "not-found", `${target.directory} disappeared while the upload started`)))
            )),
          // A failure of the content (reading the RDB) explains a failed upload better than the upload's error.
          Effect.catch((e) =>
            Effect.flatMap(Ref.get(sourceFailure), (s): Effect.Effect<never, BackupStoreError | E> => (Option.isSome(s) ? Effect.fail(s.value) : Effect.fail(e)))
          ),
          Effect.ensuring(Effect.sync(() => body.destroy()))
        )
        const sent = md5.digest("base64")
        const computed = response.headers["computed-md5"]
        if (response.statusCode !== 204 || computed !== sent) {
          return yield* failure(`put ${name}`, "unexpected-reply", `expected 204 with computed-md5 ${sent}, got ${response.statusCode} with ${String(computed)}`)
        }
        return { name, bytes }
      })

    const get = (name: string): Stream.Stream<Uint8Array, BackupStoreError> =>
      Stream.unwrap(Effect.gen(function*() {
        const operation = `get ${name}`
        const opened = Effect.gen(function*() {
          const { agent, client: transfer } = yield* transferClient
          const progress = yield* makeProgress
          const readable = yield* Effect.callback<Readable, BackupStoreError>((resume) => {
            transfer.get(pathOf(name), (err, stream, res) => {
              progress.moved(0)
              // Without content-md5 the client cannot check the body: not a Manta object.
              if (err === null && res !== undefined && res.headers["content-md5"] === undefined) {
                stream?.resume()
                resume(Effect.fail(failure(operation, "unexpected-reply", "response without content-md5")))
              } else if (err !== null) resume(Effect.fail(refused(operation, { action: "getobject", resource: pathOf(name) })(err)))
              else if (stream === null) resume(Effect.fail(failure(operation, "unexpected-reply", "no body")))
              else resume(Effect.succeed(stream))
            })
          }).pipe(
            Effect.raceFirst(progress.watch(limits, stalled(operation, () => ""))),
            Effect.onError(() => Effect.sync(() => agent.destroy()))
          )
          return { readable, progress }
        }).pipe(Effect.retry(mantaRetry(timings.retryBase)))
        const { readable, progress } = yield* opened
        // The client verifies the body's MD5 and fails the stream at its end on a mismatch.
        return NodeStream.fromReadable({ evaluate: () => readable, onError: (e) => failure(operation, "unexpected-reply", String(e)) }).pipe(
          Stream.tap((chunk) => Effect.sync(() => progress.moved(chunk.byteLength))),
          Stream.interruptWhen(progress.watch(limits, stalled(operation, (s) => `after ${mib(s.bytes)} received`)))
        )
      }))

    const list: Effect.Effect<ReadonlyArray<StoredObject>, BackupStoreError> = request<ReadonlyArray<StoredObject>>(
      "ls",
      { action: "getdirectory", resource: target.directory },
      (done) =>
        // Straight to the listing GET: the HEAD the client sends first answers errors without their code.
        client.ls(target.directory, { _no_dir_check: true }, (err, emitter) => {
          if (err !== null) return done(err)
          const found: Array<StoredObject> = []
          emitter.on("object", (entry) => found.push({ name: entry.name, bytes: entry.size ?? 0 }))
          emitter.on("error", (e) => done(e))
          emitter.on("end", () => done(null, found))
        })
    ).pipe(Effect.catchIf((e) => e.reason === "not-found", () => Effect.succeed([])))

    const remove = (name: string) =>
      request<true>(`unlink ${name}`, { action: "deleteobject", resource: pathOf(name) }, (done) => client.unlink(pathOf(name), (err) => done(err, true))).pipe(Effect.asVoid)

    return { kind: "manta", location: pathOf, put, get, stat, list, remove } satisfies BackupStoreShape
  })
