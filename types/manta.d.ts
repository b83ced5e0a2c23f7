// Ambient typings for the parts of the `manta` package (5.4.2, CommonJS) that the
// project uses, checked against node_modules/manta/lib/{index,client,create_client}.js,
// smartdc-auth's privateKeySigner and restify-clients 1.6.0.
//
// Import it as `import manta from "manta"`: Node's ESM loader only exposes
// `module.exports` as the default export of this package (the named exports it
// detects are just `MantaClient`), so only the default export is declared for values.
declare module "manta" {
  import type { EventEmitter } from "node:events"
  import type { Agent, IncomingHttpHeaders, IncomingMessage } from "node:http"
  import type { Readable } from "node:stream"

  /** What a signer hands back for one signing string (smartdc-auth). */
  export interface SignatureResult {
    readonly algorithm: string
    readonly keyId: string
    readonly signature: string
    readonly user: string
    readonly subuser?: string
  }

  /** A request signer from `privateKeySigner` (a function with properties). */
  export interface Signer {
    (data: string, cb: (err: Error | null, result?: SignatureResult) => void): void
    /** The MD5 fingerprint of the key, "c5:7a:…" (not the full "/login/keys/…" keyId). */
    readonly keyId: string
    readonly user: string
    readonly subuser?: string
  }

  export interface PrivateKeySignerOptions {
    /** PEM or OpenSSH private key text (RSA, ECDSA, ed25519). */
    readonly key: string | Buffer
    readonly user: string
    readonly subuser?: string
    /** Ignored for the key ID, which is always derived from the key's MD5 fingerprint. */
    readonly keyId?: string
  }

  /** restify-clients retry options; `false` disables retries (the default is 4 retries, 1 s doubling). */
  export interface RetryOptions {
    readonly minTimeout?: number
    readonly maxTimeout?: number
    readonly retries?: number
  }

  /** A bunyan-like logger; the client calls `child(...)` on it. */
  export interface Logger {
    child(options: object, simple?: boolean): Logger
    trace(...args: ReadonlyArray<unknown>): unknown
    debug(...args: ReadonlyArray<unknown>): unknown
    info(...args: ReadonlyArray<unknown>): unknown
    warn(...args: ReadonlyArray<unknown>): unknown
    error(...args: ReadonlyArray<unknown>): unknown
    fatal(...args: ReadonlyArray<unknown>): unknown
  }

  export interface ClientOptions {
    readonly url: string
    readonly user: string
    readonly subuser?: string
    /** Sent as the `role: a,b` header on every request. */
    readonly role?: ReadonlyArray<string>
    /**
     * Use `privateKeySigner(...)`. (The `{ keyId, key: <path> }` object form reads the file
     * and calls process.exit(1) when it cannot, so it is not declared here.)
     */
    readonly sign: Signer
    /** TCP connect timeout in ms (default 4000). It does not bound the request. */
    readonly connectTimeout?: number
    readonly retry?: false | RetryOptions
    /** Extra headers sent on every request. */
    readonly headers?: Readonly<Record<string, string>>
    /**
     * An https.Agent for an https:// URL (it may carry `ca`; createClient passes no `ca`
     * option of its own). Without one, Node's store and NODE_EXTRA_CA_CERTS decide.
     */
    readonly agent?: Agent | false
    readonly rejectUnauthorized?: boolean
    readonly log?: Logger
  }

  /**
   * The error the client hands back. For a JSON error body `{code, message}`:
   * `name` = code + "Error", `code`, `message`, `statusCode` and `body`. A HEAD error has no
   * body, so e.g. a 404 on `info` is `name: "NotFoundError"`, `code: undefined`: match on
   * `statusCode`. Connection errors carry node's `code` (e.g. "ECONNREFUSED") and no
   * `statusCode`; a stream from `get` can fail with `name` "ChecksumError" / "DownloadError".
   */
  export interface MantaError extends Error {
    readonly code?: string
    readonly statusCode?: number
    readonly body?: Readonly<Record<string, unknown>>
  }

  /** Common per-call options: extra headers (e.g. `m-*`), a request id and active roles. */
  export interface RequestOptions {
    readonly headers?: Readonly<Record<string, string | number>>
    readonly req_id?: string
    readonly role?: ReadonlyArray<string>
    readonly query?: Readonly<Record<string, string | number | boolean>>
  }

  export interface PutOptions extends RequestOptions {
    /** Sent as content-length; without it the body is sent chunked. */
    readonly size?: number
    /** Base64 MD5 of the body, sent as content-md5 and checked by the server. */
    readonly md5?: string
    /** Sent as x-durability-level. */
    readonly copies?: number
    /** content-type (default: guessed from the extension, else application/octet-stream). */
    readonly type?: string
    /** On DirectoryDoesNotExist, mkdirp the parent and PUT again (once). */
    readonly mkdirs?: boolean
  }

  export interface GetOptions extends RequestOptions {
    readonly accept?: string
    /** Do not re-request the rest of a body that ended short. */
    readonly no_resume?: boolean
  }

  export interface ListOptions extends RequestOptions {
    /** Page size (default 1024, the server's maximum). */
    readonly limit?: number
    readonly marker?: string
    readonly type?: "object" | "o" | "directory" | "d"
    readonly mtime?: boolean
    readonly reverse?: boolean
    readonly _no_dir_check?: boolean
  }

  /** The `info()` result. */
  export interface ObjectInfo {
    readonly name: string
    /** "directory" for a directory, else the content type's usual extension ("bin", "gz", …). */
    readonly extension: string
    /** The content-type header. */
    readonly type: string
    readonly etag?: string
    /** Base64 content-md5 (objects only). */
    readonly md5?: string
    readonly size?: number
    readonly headers: IncomingHttpHeaders
  }

  /** One line of a directory listing, plus the `parent` the client adds. */
  export interface DirectoryEntry {
    readonly name: string
    readonly type: "object" | "directory"
    readonly mtime: string
    readonly parent: string
    readonly etag?: string
    readonly size?: number
    readonly contentType?: string
    readonly contentMD5?: string
    readonly durability?: number
  }

  export interface ListEmitter extends EventEmitter {
    on(event: "object" | "directory" | "entry", listener: (entry: DirectoryEntry) => void): this
    on(event: "error", listener: (err: MantaError) => void): this
    on(event: "end", listener: (res: IncomingMessage) => void): this
    once(event: "object" | "directory" | "entry", listener: (entry: DirectoryEntry) => void): this
    once(event: "error", listener: (err: MantaError) => void): this
    once(event: "end", listener: (res: IncomingMessage) => void): this
  }

  /** The underlying restify HttpClient; only the properties the project touches. */
  export interface RestifyHttpClient {
    /**
     * Undocumented: ms from TCP connect until the response headers, `false` (default)
     * for none. Set on both `client.client` and `client.jsonClient`.
     */
    requestTimeout: number | false
    connectTimeout: number | false
    close(): void
  }

  export interface MantaClient extends EventEmitter {
    readonly user: string
    readonly subuser: string | undefined
    readonly client: RestifyHttpClient
    readonly jsonClient: RestifyHttpClient

    /** `res` is the PUT response (204 with etag, last-modified, computed-md5). */
    put(path: string, input: Readable, options: PutOptions, cb: (err: MantaError | null, res?: IncomingMessage) => void): void
    put(path: string, input: Readable, cb: (err: MantaError | null, res?: IncomingMessage) => void): void

    /**
     * The stream ends after the body's MD5 matched content-md5, or emits "error"
     * (ChecksumError / DownloadError / a resume's error). `stream` is null on an error and
     * on a 304.
     */
    get(path: string, options: GetOptions, cb: (err: MantaError | null, stream: Readable | null, res?: IncomingMessage) => void): void
    get(path: string, cb: (err: MantaError | null, stream: Readable | null, res?: IncomingMessage) => void): void

    /** On an error the second argument is the response, not an ObjectInfo: read `info` only when `err` is null. */
    info(path: string, options: RequestOptions, cb: (err: MantaError | null, info: ObjectInfo, res: IncomingMessage) => void): void
    info(path: string, cb: (err: MantaError | null, info: ObjectInfo, res: IncomingMessage) => void): void

    /**
     * HEADs `dir` first (an object gives InvalidDirectoryError), then pages through
     * GET dir?limit=…&marker=… The callback fires before the first page arrives.
     */
    ls(dir: string, options: ListOptions, cb: (err: MantaError | null, emitter: ListEmitter) => void): void
    ls(dir: string, cb: (err: MantaError | null, emitter: ListEmitter) => void): void

    mkdir(dir: string, options: RequestOptions, cb: (err: MantaError | null, res?: IncomingMessage, info?: ObjectInfo) => void): void
    mkdir(dir: string, cb: (err: MantaError | null, res?: IncomingMessage, info?: ObjectInfo) => void): void

    /** PUTs each directory below /login/stor in turn. */
    mkdirp(dir: string, options: RequestOptions, cb: (err: MantaError | null) => void): void
    mkdirp(dir: string, cb: (err: MantaError | null) => void): void

    unlink(path: string, options: RequestOptions, cb: (err: MantaError | null, res?: IncomingMessage) => void): void
    unlink(path: string, cb: (err: MantaError | null, res?: IncomingMessage) => void): void

    /** PutMetadata (`PUT path?metadata=true`), e.g. the `role-tag` header that `mchmod` sends. */
    chattr(path: string, options: RequestOptions, cb: (err: MantaError | null, res?: IncomingMessage) => void): void

    /** Snaplink: `path` becomes a new name for the object at `source`. */
    ln(source: string, path: string, options: RequestOptions, cb: (err: MantaError | null, res?: IncomingMessage) => void): void
    ln(source: string, path: string, cb: (err: MantaError | null, res?: IncomingMessage) => void): void

    /** Ends the keep-alive sockets of both underlying clients. */
    close(): void
  }

  interface MantaModule {
    createClient(options: ClientOptions): MantaClient
    privateKeySigner(options: PrivateKeySignerOptions): Signer
  }

  const manta: MantaModule
  export default manta
}
