/**
 * rebound as a library: the decoder, the Message-ID / VERP codec, the ports with their layers, the processor,
 * `layerConfig`, which builds the processor, the store and the status board from a configuration file, and `runApp`,
 * which runs the whole application of a configuration (accounts, HTTP API, SMTP listener, daily job) until a stop.
 */
export * from "./domain/report.js"
export { type DecodeOptions, decodeBounce } from "./domain/decode.js"
export type { MailHeader, MimeEntity } from "./domain/mail.js"
export { parseMail } from "./adapters/mime/parse.js"
export { splitMbox } from "./adapters/mime/mbox.js"
export { classifyBytes } from "./app/classify.js"
export { qualify, type Qualification, type QualifyInput, type Rule } from "./domain/qualify.js"
export {
  findEnhancedStatus,
  findReplyCode,
  formatEnhancedStatus,
  parseEnhancedStatus,
  type EnhancedStatus
} from "./domain/status.js"
export {
  decodeMessageId,
  decodeVerp,
  encodeMessageId,
  encodeStamp,
  encodeVerp,
  makeTokenVerifier,
  SigningKey,
  type TokenVerifier,
  type VerifiedToken
} from "./domain/codec.js"
export * as Quarantine from "./domain/quarantine.js"
export * from "./adapters/mailbox/index.js"
export * as Store from "./adapters/store/index.js"
export { type Forward, ForwardError, Forwarder } from "./adapters/forward/forwarder.js"
export {
  type AccountHandle,
  type Crashpoint,
  Crashpoints,
  InjectedCrash,
  layer as processorLayer,
  outcomeOf,
  Processor,
  type ProcessorSettings,
  SessionGuard,
  type Progress,
  type SessionResult
} from "./app/processor.js"
export { type AccountStatus, ProcessorStatus } from "./app/status.js"
export { makeStopSignal, StopSignal, type StopSignalService } from "./app/stop.js"
export { daemon as runApp } from "./app/daemon.js"
export {
  Account,
  AppConfig,
  ConfigFileError,
  decodeConfig,
  loadConfig,
  MaildirAccount,
  Pop3Account,
  pollInterval,
  SmtpAccount
} from "./app/config.js"
export {
  accountHandles,
  coreLayer,
  layerConfig,
  loggerLayer,
  mailboxLayer,
  processorSettings,
  storeLayer
} from "./app/app.js"
