export { defaultWebhookConfig, WebhookConfig, webhookConfig, WebhookEventType } from "./config.js"
export { signatureHeader, signatureOf, signatureValue, verifySignature, type Verification } from "./signature.js"
export {
  backoffMillis,
  complaintEvent,
  historyEvent,
  layer,
  layerConfig,
  layerService,
  make,
  payloadOf,
  type WebhookEvent,
  type WebhookPass,
  Webhooks
} from "./webhooks.js"
