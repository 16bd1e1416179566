import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import type * as Layer from "effect/Layer"
import type { MailboxLimits } from "../mailbox/limits.js"
import type { Mailbox } from "../mailbox/mailbox.js"
import * as MaildirMailbox from "../mailbox/maildir-mailbox.js"
import type { SmtpListenerConfig } from "./config.js"

/**
 * The Mailbox port over the listener's spool, for an account of type "smtp": the spool is a Maildir, so the
 * processor reads it like any other (same pipeline, ledger and outcomes) and deletes each mail once it is applied.
 */
export const spoolMailbox = (
  config: Pick<SmtpListenerConfig, "spoolDir">,
  limits?: Partial<MailboxLimits>
): Layer.Layer<Mailbox, never, FileSystem.FileSystem | Path.Path> =>
  MaildirMailbox.layer({ path: config.spoolDir, create: true, ...(limits === undefined ? {} : { limits }) })
