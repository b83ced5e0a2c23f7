// Why Manta refused a request, in the operator's terms. Manta's own messages ("None
// of your active roles are present on the resource.") name neither the resource nor
// the role; a subuser's first backup fails exactly there, so the explanation names
// the directory that lacks the role tag and the `manta` CLI command that adds it.
// Pure: the store passes what it asked and what Manta answered.

/** Who signs the requests, as MANTA_USER, MANTA_SUBUSER and MANTA_ROLE say. */
export interface Principal {
  readonly user: string
  readonly subuser: string | undefined
  readonly roles: ReadonlyArray<string>
}

/** What a request did, in Manta's authorization terms. */
export interface Attempt {
  /** putobject, putdirectory, getobject, getdirectory, deleteobject. */
  readonly action: string
  /** The resource Manta authorizes against: the parent directory when creating. */
  readonly resource: string
  /** The entry being created, when there is one. */
  readonly creating?: string
}

const callerOf = (p: Principal): string => (p.subuser === undefined ? p.user : `${p.user}/${p.subuser}`)

const activeRoles = (p: Principal): string =>
  p.roles.length > 0 ? `MANTA_ROLE=${p.roles.join(",")}` : `its default roles (MANTA_ROLE is unset)`

/** The operator-facing explanation for a Manta error code, or undefined when Manta's own message says enough. */
export const explainRefusal = (p: Principal, code: string | undefined, attempt: Attempt): string | undefined => {
  const caller = callerOf(p)
  const role = p.roles[0] ?? "<role>"
  switch (code) {
    case "NoMatchingRoleTag": {
      const create = attempt.creating === undefined ? "" : `, or create ${attempt.creating} tagged: mmkdir --role-tag=${role} ${attempt.creating}`
      return `${attempt.resource} has no role tag for any active role of ${caller} (${activeRoles(p)}), so Manta refuses ${attempt.action} there (NoMatchingRoleTag). As the account owner, tag it: mchmod +${role} ${attempt.resource}${create}`
    }
    case "AuthorizationFailed":
      if (p.subuser === undefined) return undefined
      return p.roles.length > 0
        ? `${caller} may not ${attempt.action} on ${attempt.resource} (AuthorizationFailed): ${attempt.resource} lacks a role tag for MANTA_ROLE=${p.roles.join(",")}, or that role's policy lacks "CAN ${attempt.action}"`
        : `${caller} may not ${attempt.action} on ${attempt.resource} (AuthorizationFailed): no role of ${caller} is active (set MANTA_ROLE, or make ${p.subuser} a default member of the role), or the role's policy lacks "CAN ${attempt.action}"`
    case "InvalidRole":
      return `MANTA_ROLE=${p.roles.join(",")} names a role ${caller} cannot assume (InvalidRole): make ${caller} a member of it, or correct MANTA_ROLE`
    case "KeyDoesNotExist":
      return `Manta knows no such key for ${caller} (KeyDoesNotExist): upload the public half of MANTA_PRIVATE_KEY to ${caller === p.user ? "the account" : `the subuser ${p.subuser ?? ""}`}, or correct MANTA_USER/MANTA_SUBUSER`
    default:
      return undefined
  }
}
