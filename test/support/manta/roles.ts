// Manta's role-based access control as muskie applies it (lib/auth.js: getActiveRoles,
// storageContext, authorize): a subuser acts only through its active roles (the
// `role` header, else its default roles), and only on a resource tagged with one of
// them whose rules allow the action. A new entry's resource is its parent directory.
// The account owner is never restricted. Aperture conditions (sourceip, time…) and
// cross-account roles are not emulated: a rule here is a bare action.
import type { Caller } from "./auth.ts"

/** The actions muskie authorizes on storage paths (PUT ?metadata=true is `putobject`). */
export type MantaAction = "getobject" | "getdirectory" | "putobject" | "putdirectory" | "putlink" | "deleteobject" | "deletedirectory"

export interface EmulatorRole {
  readonly name: string
  /** Subuser logins that may assume the role. */
  readonly members: ReadonlyArray<string>
  /** Members for whom the role is active when a request names no role. */
  readonly defaultMembers?: ReadonlyArray<string>
  /** What the role's policies allow (`CAN putobject` and so on). */
  readonly rules: ReadonlyArray<MantaAction>
}

export interface Refusal {
  readonly status: number
  readonly code: string
  readonly message: string
}

export type Activation = { readonly ok: true; readonly roles: ReadonlySet<string> } | ({ readonly ok: false } & Refusal)

export interface Roles {
  /** The caller's active roles for this request, or muskie's 409 InvalidRole. */
  readonly activate: (caller: Caller, header: string | undefined) => Activation
  /** undefined when allowed; `tags` are the resource's role tags (the parent's for a new entry). */
  readonly authorize: (caller: Caller, active: ReadonlySet<string>, action: MantaAction, tags: ReadonlySet<string>, path: string) => Refusal | undefined
  /** The names in a `role-tag` header, or muskie's 409 InvalidRoleTag for one the account lacks. */
  readonly tagsOf: (account: string, header: string) => { readonly ok: true; readonly tags: ReadonlySet<string> } | ({ readonly ok: false } & Refusal)
}

const names = (header: string): ReadonlyArray<string> => header.split(/\s*,\s*/).filter((n) => n !== "")

export const makeRoles = (accounts: ReadonlyArray<{ readonly login: string; readonly roles?: ReadonlyArray<EmulatorRole> }>): Roles => {
  const byAccount = new Map(accounts.map((a) => [a.login, new Map((a.roles ?? []).map((r) => [r.name, r]))]))
  const rolesOf = (account: string): ReadonlyMap<string, EmulatorRole> => byAccount.get(account) ?? new Map()
  // An account owner is a member of none of its own roles (mahi lists only roles the caller belongs to).
  const memberOf = (caller: Caller): ReadonlyArray<EmulatorRole> =>
    caller.subuser === undefined ? [] : [...rolesOf(caller.account).values()].filter((r) => r.members.includes(caller.subuser ?? ""))

  return {
    activate: (caller, header) => {
      const mine = memberOf(caller)
      if (header === undefined || header.trim() === "") {
        return { ok: true, roles: new Set(mine.filter((r) => (r.defaultMembers ?? []).includes(caller.subuser ?? "")).map((r) => r.name)) }
      }
      if (header.trim() === "*" && caller.subuser !== undefined) return { ok: true, roles: new Set(mine.map((r) => r.name)) }
      const active = new Set<string>()
      for (const name of names(header)) {
        if (!mine.some((r) => r.name === name)) return { ok: false, status: 409, code: "InvalidRole", message: `Role "${name}" is invalid.` }
        active.add(name)
      }
      return { ok: true, roles: active }
    },

    authorize: (caller, active, action, tags, path) => {
      if (caller.subuser === undefined) return undefined
      const login = `${caller.account}/${caller.subuser}`
      const relevant = [...active].filter((name) => tags.has(name))
      if (relevant.length === 0) {
        // muskie turns NoMatchingRoleTag into AuthorizationFailed when no role of the owner was active.
        return active.size === 0
          ? { status: 403, code: "AuthorizationFailed", message: `${login} is not allowed to access ${path}` }
          : { status: 403, code: "NoMatchingRoleTag", message: "None of your active roles are present on the resource." }
      }
      const allowed = relevant.some((name) => rolesOf(caller.account).get(name)?.rules.includes(action) === true)
      return allowed ? undefined : { status: 403, code: "AuthorizationFailed", message: `${login} is not allowed to access ${path}` }
    },

    tagsOf: (account, header) => {
      const tags = new Set<string>()
      for (const name of names(header)) {
        if (!rolesOf(account).has(name)) return { ok: false, status: 409, code: "InvalidRoleTag", message: `Role tag "${name}" is invalid.` }
        tags.add(name)
      }
      return { ok: true, tags }
    }
  }
}
