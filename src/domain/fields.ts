/** A group of "Name: value" fields as in a delivery-status or feedback-report body, names lower-cased. */
export type FieldGroup = ReadonlyMap<string, string>

/**
 * Splits a delivery-status style body (RFC 3464 §2.1, RFC 5965 §3.1) into groups of fields separated by blank lines.
 * Folded lines are unfolded; lines that are not fields are skipped, so text pasted around the fields does no harm.
 */
export const parseFieldGroups = (text: string): Array<FieldGroup> => {
  const groups: Array<Map<string, string>> = []
  let current = new Map<string, string>()
  let lastName: string | undefined
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    if (rawLine.trim() === "") {
      if (current.size > 0) groups.push(current)
      current = new Map()
      lastName = undefined
      continue
    }
    const first = rawLine.charCodeAt(0)
    if ((first === 32 || first === 9) && lastName !== undefined) {
      current.set(lastName, `${current.get(lastName)} ${rawLine.trim()}`)
      continue
    }
    const match = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/.exec(rawLine)
    if (match === null) {
      lastName = undefined
      continue
    }
    lastName = match[1]!.toLowerCase()
    // a repeated recipient field starts a new group when a DSN omits the blank line between groups
    if ((lastName === "final-recipient" || lastName === "original-recipient") && current.has(lastName)) {
      groups.push(current)
      current = new Map()
    }
    if (!current.has(lastName)) current.set(lastName, match[2]!.trim())
  }
  if (current.size > 0) groups.push(current)
  return groups
}

/** Removes RFC 5322 comments "(...)" from a structured field value. */
export const stripComments = (value: string): string => {
  let out = ""
  let depth = 0
  for (const char of value) {
    if (char === "(") depth++
    else if (char === ")" && depth > 0) depth--
    else if (depth === 0) out += char
  }
  return out.trim()
}

/**
 * The value of a typed field such as "rfc822; user@example.com" or "smtp; 550 ...": [type, value].
 * Without a type, the type is null.
 */
export const typedValue = (value: string): [string | null, string] => {
  const match = /^\s*([A-Za-z0-9-]+)\s*;\s*([\s\S]*)$/.exec(value)
  return match === null ? [null, value.trim()] : [match[1]!.toLowerCase(), match[2]!.trim()]
}

/** RFC 6533 §3: "\x{HEX}" escapes in utf-8 address types. */
export const decodeUtf8AddressEscapes = (value: string): string =>
  value.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
