/**
 * Decoder throughput and memory, measured in one process on the same bytes:
 * - rebound's decoder (MIME split + decode + qualify + correlate) against mailparser's simpleParser alone;
 * - heap growth while decoding a bounce that returns a 20 MB original, repeated.
 * Input: the development corpus when it is present (../shared/corpus/sisimai/maildir), else bounces we generate.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { simpleParser } from "mailparser"
import { parseMail } from "../src/adapters/mime/parse.js"
import { decodeBounce } from "../src/domain/decode.js"
import { eximBounce, postfixDsn, qmailBounce } from "../test/support/mails.js"

const corpusDir = path.resolve(import.meta.dirname, "../../shared/corpus/sisimai/maildir")

const walk = (dir: string): Array<string> =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]))

const loadMails = (): { readonly source: string; readonly mails: ReadonlyArray<Buffer> } => {
  if (fs.existsSync(corpusDir))
    return { source: corpusDir, mails: walk(corpusDir).map((file) => fs.readFileSync(file)) }
  const mails = Array.from({ length: 300 }, (_, index) =>
    index % 3 === 0
      ? postfixDsn({
          recipients: [{ address: `u${index}@receiver.example`, status: "5.1.1", diagnostic: "550 5.1.1 unknown" }]
        })
      : index % 3 === 1
        ? qmailBounce(`u${index}@receiver.example`, "Remote host said: 552 mailbox full")
        : eximBounce([[`u${index}@receiver.example`, "550 5.7.1 blocked"]])
  )
  return { source: "generated bounces", mails }
}

const minimumSeconds = Number(process.env["BENCH_SECONDS"] ?? 5)

const measure = async (label: string, mails: ReadonlyArray<Buffer>, decode: (mail: Buffer) => unknown) => {
  for (const mail of mails) await decode(mail) // warm-up
  let count = 0
  const started = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < minimumSeconds) {
    for (const mail of mails) await decode(mail)
    count += mails.length
    elapsed = Number(process.hrtime.bigint() - started) / 1e9
  }
  const rate = count / elapsed
  console.log(`${label.padEnd(34)} ${rate.toFixed(0).padStart(8)} mails/s  (${count} mails in ${elapsed.toFixed(1)} s)`)
  return rate
}

/** Heap and external (Buffer, external string) memory: what the decoder itself holds. */
const usedMemory = () => {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}
const memoryAfterGc = () => {
  globalThis.gc?.()
  return usedMemory()
}

const main = async () => {
  const { source, mails } = loadMails()
  const bytes = mails.reduce((sum, mail) => sum + mail.length, 0)
  console.log(`decoder benchmark: ${mails.length} mails (${(bytes / 1024).toFixed(0)} KiB) from ${source}`)
  const ours = await measure("rebound decode (parse+decode)", mails, (mail) => decodeBounce(parseMail(mail)))
  const theirs = await measure("mailparser simpleParser alone", mails, (mail) => simpleParser(mail))
  console.log(`ratio rebound / simpleParser: ${(ours / theirs).toFixed(1)}x (target >= 4x)`)

  const filler = Buffer.alloc(20 * 1024 * 1024, "0123456789abcdefghijklmnopqrstuvwxyz\r\n")
  const dsn = postfixDsn({
    recipients: [{ address: "big@receiver.example", status: "5.2.3", diagnostic: "552 5.2.3 too big" }]
  })
  const bigMail = Buffer.concat([
    dsn.subarray(0, dsn.lastIndexOf("--B0UND")),
    filler,
    Buffer.from("\r\n--B0UND.1700000000/mta.sender.example--\r\n")
  ])
  const before = memoryAfterGc()
  const retained: Array<number> = []
  const started = Date.now()
  for (let round = 0; round < 20; round++) {
    const report = decodeBounce(parseMail(bigMail))
    if (report.records[0]?.recipient !== "big@receiver.example") throw new Error("the 20 MB bounce was not decoded")
    retained.push((memoryAfterGc() - before) / 2 ** 20)
  }
  console.log(
    `20 MB original x20: ${((Date.now() - started) / 20).toFixed(0)} ms/mail; memory held after each decode (MiB over the start): ${retained.map((mib) => mib.toFixed(1)).join(" ")}${globalThis.gc ? "" : " (run with --expose-gc for exact figures)"}`
  )
}

await main()
