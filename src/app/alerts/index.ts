export { type Alert, type AlertInput, AlertLog, AlertSeverity } from "./alert-log.js"
export { alertConfig, type AlertChanges, Alerts, layer, layerConfig, layerService, make } from "./alerts.js"
export { accountAlerts, AlertConfig, defaultAlertConfig, deliveryAlerts, outageAlerts } from "./rules.js"
