/**
 * The dialects, in the order they are tried: the first that recognises a bounce reads it. More specific
 * recognisers (a header only one product writes) come before looser ones (a subject line).
 */
import type { Extraction } from "../extraction.js"
import type { BounceMail, Dialect } from "./dialect.js"
import { courier } from "./courier.js"
import { exchange2003, exchange2007 } from "./exchange.js"
import { exim } from "./exim.js"
import { ezweb } from "./ezweb.js"
import { fml } from "./fml.js"
import { googleGroups } from "./googlegroups.js"
import { imail } from "./imail.js"
import { messagingServer, notes } from "./notes.js"
import { postfix } from "./postfix.js"
import { qmail } from "./qmail.js"
import { sendmail } from "./sendmail.js"
import { trendMicro } from "./trendmicro.js"
import { v5sendmail } from "./v5sendmail.js"
import { verizon } from "./verizon.js"

export type { BounceMail, Dialect } from "./dialect.js"

export const dialects: ReadonlyArray<Dialect> = [
  exim,
  exchange2003,
  exchange2007,
  ezweb,
  fml,
  googleGroups,
  imail,
  trendMicro,
  verizon,
  sendmail,
  v5sendmail,
  postfix,
  qmail,
  courier,
  messagingServer,
  notes
]

/** The dialect that wrote a bounce, if one recognises it. */
export const recogniseDialect = (mail: BounceMail): Dialect | undefined =>
  dialects.find((dialect) => dialect.recognise(mail))

/** An extraction as the dialect refines it; the extraction names the dialect when it was read by a standard decoder. */
export const refineExtraction = (dialect: Dialect, extraction: Extraction, mail: BounceMail): Extraction =>
  dialect.refine === undefined ? extraction : { ...extraction, recipients: dialect.refine(extraction.recipients, mail) }
