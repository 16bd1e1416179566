/** One header field, unfolded, with RFC 2047 encoded words decoded. */
export interface MailHeader {
  /** lower-case field name */
  readonly name: string
  readonly value: string
}

/**
 * A MIME entity as the decoder sees it. The mime adapter builds it from bytes; bodies are decoded lazily so that a
 * bounce returning a large original costs no more than the parts the decoder reads.
 */
export interface MimeEntity {
  readonly headers: ReadonlyArray<MailHeader>
  /** the first value of a header field (case-insensitive name), or undefined */
  header(name: string): string | undefined
  headerAll(name: string): ReadonlyArray<string>
  /** lower-case type/subtype; text/plain when absent or unreadable */
  readonly contentType: string
  /** Content-Type parameters, lower-case names */
  readonly params: Readonly<Record<string, string>>
  /** the children of a multipart entity, in order */
  readonly children: ReadonlyArray<MimeEntity>
  /** for message/rfc822, message/global, text/rfc822-headers and message/global-headers: the enclosed message */
  readonly enclosed: MimeEntity | undefined
  /** the body after transfer and charset decoding, at most `limit` characters of it */
  text(limit?: number): string
  /** size of the raw body in bytes */
  readonly bodySize: number
  /** parses a mail that was pasted as text into this entity (a bounce forwarded inline, say) */
  parseText(text: string): MimeEntity
}

/** Walks an entity tree depth-first, enclosed messages included, and returns the entities `keep` accepts. */
export const findEntities = (root: MimeEntity, keep: (entity: MimeEntity) => boolean): Array<MimeEntity> => {
  const found: Array<MimeEntity> = []
  const visit = (entity: MimeEntity, depth: number): void => {
    if (depth > 64) return
    if (keep(entity)) found.push(entity)
    for (const child of entity.children) visit(child, depth + 1)
    if (entity.enclosed !== undefined) visit(entity.enclosed, depth + 1)
  }
  visit(root, 0)
  return found
}
