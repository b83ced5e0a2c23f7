// What every storage handler checks before it acts, in muskie's order: the parent
// (ensureParent: DirectoryDoesNotExist / ParentNotDirectory), then authorization
// against the resource's role tags (an existing entry's own, a new entry's parent's),
// and the role tags a new entry gets (createMetadata: the `role-tag` header, else a
// subuser's active roles, else none).
import type { Caller } from "./auth.ts"
import type { BlobStore } from "./blobs.ts"
import { type Exchange, header, sendError } from "./http.ts"
import type { DirectoryEntry, Entry, Namespace, Segments } from "./namespace.ts"
import type { MantaAction, Roles } from "./roles.ts"

/** Who is asking, with the roles active for this request. */
export interface Requester {
  readonly caller: Caller
  readonly active: ReadonlySet<string>
}

export interface Access {
  readonly pathOf: (segments: Segments) => string
  /** muskie's ensureParent; sends the error and returns undefined when it fails. */
  readonly parentFor: (x: Exchange, segments: Segments) => { readonly parent: DirectoryEntry; readonly name: string } | undefined
  /** Sends 400 OperationNotAllowedOnDirectory when `segments` is a directory. */
  readonly refuseDirectoryTarget: (x: Exchange, segments: Segments) => boolean
  /** Whether `who` may `action` on `tags`; sends the refusal when not. */
  readonly allowed: (x: Exchange, who: Requester, action: MantaAction, tags: ReadonlySet<string>, segments: Segments) => boolean
  /** The role tags of an entry created by this request, or undefined after sending InvalidRoleTag. */
  readonly tagsForNew: (x: Exchange, who: Requester) => ReadonlySet<string> | undefined
  /** Puts `entry` at parent/name, releasing the blob of the object it replaces. */
  readonly replace: (parent: DirectoryEntry, name: string, entry: Entry) => void
}

export const makeAccess = (ns: Namespace, blobs: BlobStore, roles: Roles): Access => {
  const pathOf = (segments: Segments): string => `/${segments.join("/")}`
  return {
    pathOf,
    parentFor: (x, segments) => {
      const found = ns.parent(segments)
      switch (found.kind) {
        case "ok":
          return found
        case "missing":
          sendError(x, 404, "DirectoryDoesNotExist", `${pathOf(segments.slice(0, -1))} does not exist`)
          return undefined
        case "notDirectory":
          sendError(x, 400, "ParentNotDirectory", `${pathOf(segments.slice(0, -1))} is not a directory`)
          return undefined
      }
    },
    refuseDirectoryTarget: (x, segments) => {
      if (ns.lookup(segments)?.kind !== "directory") return false
      sendError(x, 400, "OperationNotAllowedOnDirectory", `${pathOf(segments)} is a directory: ${x.req.method} is not allowed`)
      return true
    },
    allowed: (x, who, action, tags, segments) => {
      const refusal = roles.authorize(who.caller, who.active, action, tags, pathOf(segments))
      if (refusal === undefined) return true
      sendError(x, refusal.status, refusal.code, refusal.message)
      return false
    },
    tagsForNew: (x, who) => {
      const requested = header(x.req, "role-tag")
      if (requested === undefined) return who.caller.subuser === undefined ? new Set() : who.active
      const parsed = roles.tagsOf(who.caller.account, requested)
      if (parsed.ok) return parsed.tags
      sendError(x, parsed.status, parsed.code, parsed.message)
      return undefined
    },
    replace: (parent, name, entry) => {
      const previous = parent.children.get(name)
      parent.children.set(name, entry)
      if (previous?.kind === "object") blobs.release(previous.blob)
    }
  }
}

/** The `role-tag` response header muskie adds for a tagged entry (names, comma-separated). */
export const roleTagHeader = (entry: Entry): Record<string, string> =>
  entry.roles.size === 0 ? {} : { "role-tag": [...entry.roles].join(", ") }
