/**
 * Alerts: rules (`alert-rules.ts`) applied to device readings, one state per device and rule, alerts raised and
 * resolved, notifications owed. By concern, in `alerts/`: the model (types, ids, keys, readings), the pure decisions
 * (`decide`, `decideGroup`), the ports, the engine (a batch per (device, rule) pair; `minimumAlertCalls`) and
 * `GET /alerts`. The AWS adapters are in `shared/aws/`. See docs/decisions/0007-alerts.md.
 */
export * from './alerts/decision';
export * from './alerts/engine';
export * from './alerts/model';
export * from './alerts/ports';
export * from './alerts/query';
export * from './alerts/state-cache';
