// The emulator's metadata: one tree per account, rooted at /:login, with the
// top-level directories (stor, public) created implicitly. Object bytes live in
// blobs on disk (blobs.ts); entries only reference them. Every mutation is a
// synchronous Map update, so a reader sees either the old or the new entry.

export interface ObjectEntry {
  readonly kind: "object"
  readonly blob: string
  readonly size: number
  /** base64 MD5 of the bytes as uploaded (kept when the blob is corrupted). */
  readonly md5: string
  readonly etag: string
  readonly contentType: string
  readonly durability: number
  /** `m-*` headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly mtime: Date
  /** Role tags (role names). */
  readonly roles: ReadonlySet<string>
}

export interface DirectoryEntry {
  readonly kind: "directory"
  readonly mtime: Date
  readonly children: Map<string, Entry>
  readonly roles: ReadonlySet<string>
}

export type Entry = ObjectEntry | DirectoryEntry

export const TOP_LEVEL_DIRECTORIES: ReadonlyArray<string> = ["public", "stor"]

/** Manta's birthday, the mtime muskie reports for the top-level directories. */
const ROOT_MTIME = new Date("2013-05-22T17:39:43.714Z")

export const newDirectory = (mtime: Date = new Date(), roles: ReadonlySet<string> = new Set()): DirectoryEntry => ({
  kind: "directory",
  mtime,
  children: new Map(),
  roles
})

/** A path split into decoded segments: ["alice", "stor", "backups", "x.rdb.gz"]. */
export type Segments = ReadonlyArray<string>

export type ParsedPath =
  | { readonly ok: true; readonly segments: Segments; readonly path: string }
  | { readonly ok: false; readonly path: string }

/**
 * Splits the path part of a request URL (or a Location header) into decoded segments.
 * Trailing slashes are dropped, as muskie does; "." / ".." and empty segments are invalid.
 */
export const parsePath = (raw: string): ParsedPath => {
  const pathname = raw.split("?", 1)[0] ?? ""
  const trimmed = pathname.replace(/\/+$/, "")
  if (!trimmed.startsWith("/")) return { ok: false, path: pathname }
  const segments: Array<string> = []
  for (const encoded of trimmed.slice(1).split("/")) {
    let segment: string
    try {
      segment = decodeURIComponent(encoded)
    } catch {
      return { ok: false, path: pathname }
    }
    if (segment === "" || segment === "." || segment === ".." || segment.includes("/")) {
      return { ok: false, path: pathname }
    }
    segments.push(segment)
  }
  return { ok: true, segments, path: `/${segments.join("/")}` }
}

/** /:login and /:login/stor (etc.) cannot be written or deleted. */
export const isRoot = (segments: Segments): boolean => segments.length <= 2

/** /:login itself: not even its role tags can change (Manta's RBAC guide). */
export const isAccountRoot = (segments: Segments): boolean => segments.length <= 1

export type ParentLookup =
  | { readonly kind: "ok"; readonly parent: DirectoryEntry; readonly name: string }
  | { readonly kind: "missing" }
  | { readonly kind: "notDirectory" }

export class Namespace {
  readonly #accounts = new Map<string, DirectoryEntry>()

  constructor(logins: ReadonlyArray<string>) {
    for (const login of logins) {
      const root = newDirectory(ROOT_MTIME)
      for (const top of TOP_LEVEL_DIRECTORIES) root.children.set(top, newDirectory(ROOT_MTIME))
      this.#accounts.set(login, root)
    }
  }

  lookup(segments: Segments): Entry | undefined {
    const [login, ...rest] = segments
    if (login === undefined) return undefined
    let entry: Entry | undefined = this.#accounts.get(login)
    for (const name of rest) {
      if (entry === undefined || entry.kind !== "directory") return undefined
      entry = entry.children.get(name)
    }
    return entry
  }

  /** The directory that holds `segments`' last name (muskie's ensureParent). */
  parent(segments: Segments): ParentLookup {
    const name = segments[segments.length - 1]
    if (name === undefined || segments.length < 2) return { kind: "missing" }
    const parent = this.lookup(segments.slice(0, -1))
    if (parent === undefined) return { kind: "missing" }
    if (parent.kind !== "directory") return { kind: "notDirectory" }
    return { kind: "ok", parent, name }
  }
}

// --- Listing -------------------------------------------------------------------

export interface ListQuery {
  readonly limit: number
  readonly marker: string | undefined
  readonly type: "object" | "directory" | undefined
  readonly sortByMtime: boolean
  readonly reverse: boolean
}

export type ListQueryResult =
  | { readonly ok: true; readonly query: ListQuery }
  | { readonly ok: false; readonly code: string; readonly message: string }

const DEFAULT_LIMIT = 256
const MAX_LIMIT = 1024

/** muskie's readdir parameters: limit (1..1024, default 256), inclusive marker, dir/obj, sort. */
export const parseListQuery = (params: URLSearchParams): ListQueryResult => {
  const rawLimit = params.get("limit")
  const limit = rawLimit === null || rawLimit === "" ? DEFAULT_LIMIT : Number.parseInt(rawLimit, 10)
  if (!Number.isFinite(limit) || limit <= 0 || limit > MAX_LIMIT) {
    return {
      ok: false,
      code: "InvalidArgumentError",
      message: `limit=${rawLimit ?? ""} is invalid: must be between [1, 1024]`
    }
  }
  const hasDir = params.has("dir") || params.has("directory")
  const hasObj = params.has("obj") || params.has("object")
  const sortByMtime = params.get("sort") === "mtime"
  const rawMarker = params.get("marker") ?? ""
  if (sortByMtime && rawMarker !== "" && !Number.isFinite(Date.parse(rawMarker))) {
    return { ok: false, code: "InvalidParameter", message: `"${rawMarker}" is invalid for "marker"` }
  }
  return {
    ok: true,
    query: {
      limit,
      marker: rawMarker === "" ? undefined : rawMarker,
      type: hasDir === hasObj ? undefined : hasDir ? "directory" : "object",
      sortByMtime,
      reverse: params.get("sort_order") === "reverse"
    }
  }
}

/** One line of a listing, as muskie writes it. */
export const listingLine = (name: string, entry: Entry): string =>
  entry.kind === "directory"
    ? JSON.stringify({ name, type: "directory", mtime: entry.mtime.toISOString() })
    : JSON.stringify({
        name,
        etag: entry.etag,
        size: entry.size,
        type: "object",
        contentType: entry.contentType,
        contentMD5: entry.md5,
        mtime: entry.mtime.toISOString(),
        durability: entry.durability
      })

/**
 * A page of a directory: sorted by name ascending (or mtime descending with sort=mtime;
 * sort_order=reverse flips either), starting at the marker inclusively.
 */
export const listPage = (dir: DirectoryEntry, query: ListQuery): ReadonlyArray<readonly [string, Entry]> => {
  const byName = (a: readonly [string, Entry], b: readonly [string, Entry]): number =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
  const byMtimeDesc = (a: readonly [string, Entry], b: readonly [string, Entry]): number =>
    b[1].mtime.getTime() - a[1].mtime.getTime() || byName(a, b)
  const ascending = query.sortByMtime ? query.reverse : !query.reverse
  const markerValue = query.marker
  const afterMarker = (item: readonly [string, Entry]): boolean => {
    if (markerValue === undefined) return true
    if (query.sortByMtime) {
      const t = item[1].mtime.getTime()
      const m = Date.parse(markerValue)
      return ascending ? t >= m : t <= m
    }
    return ascending ? item[0] >= markerValue : item[0] <= markerValue
  }
  const entries = [...dir.children.entries()]
    .filter(([, entry]) => query.type === undefined || entry.kind === query.type)
    .sort(query.sortByMtime ? byMtimeDesc : byName)
  if (query.reverse) entries.reverse()
  return entries.filter(afterMarker).slice(0, query.limit)
}
