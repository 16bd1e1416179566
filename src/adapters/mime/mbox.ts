/**
 * Splits an mbox file into its mails at "From " separator lines (the mboxo/mboxrd convention: a line starting with
 * "From " after an empty line or at the start). A file that is one mail comes back whole.
 */
export const splitMbox = (bytes: Uint8Array): Array<Uint8Array> => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!buffer.subarray(0, 5).equals(Buffer.from("From "))) return [bytes]
  const starts: Array<number> = [0]
  let search = 0
  for (;;) {
    const at = buffer.indexOf("\nFrom ", search)
    if (at === -1) break
    const previousBlank = at > 0 && (buffer[at - 1] === 10 || (buffer[at - 1] === 13 && buffer[at - 2] === 10))
    if (previousBlank) starts.push(at + 1)
    search = at + 1
  }
  return starts.map((start, index) => bytes.subarray(start, starts[index + 1] ?? bytes.byteLength))
}
