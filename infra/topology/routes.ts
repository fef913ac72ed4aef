import type { AuthorizerSpec, IotAuthorizerSpec, RouteSpec } from './specs';

/**
 * The HTTP API's routes and its authorizers. Kept apart from the rest of the topology: the authorizer bundles this
 * table (it builds its IAM policy from it), not the functions, tables and consumers.
 */
export const routes = [
  { method: 'GET', path: '/healthz', permission: 'common.get.healthz', function: 'healthz' },
  { method: 'POST', path: '/events', permission: 'events.post.event_ingest', function: 'httpIngest' },
  { method: 'GET', path: '/events', permission: 'events.get.event_list', function: 'listEvents' },
  { method: 'GET', path: '/events/{id}', permission: 'events.get.event_detail', function: 'getEvent' },
  { method: 'GET', path: '/devices', permission: 'devices.get.device_list', function: 'listDevices' },
  {
    method: 'GET',
    path: '/devices/{id}/metrics',
    permission: 'devices.get.device_metrics',
    function: 'getDeviceMetrics',
  },
  { method: 'GET', path: '/alerts', permission: 'alerts.get.alert_list', function: 'listAlerts' },
  { method: 'POST', path: '/auth/token', permission: 'auth.post.token_issue', function: 'tokenIssue' },
  { method: 'GET', path: '/.well-known/jwks.json', permission: 'auth.get.jwks', function: 'jwks', auth: 'none' },
  { method: 'GET', path: '/openapi.json', permission: 'common.get.openapi', function: 'openApi', auth: 'none' },
] as const satisfies readonly RouteSpec[];

export const authorizer: AuthorizerSpec = {
  function: 'apiAuthorizer',
  identitySources: [],
  resultTtlSeconds: 0,
  credentialHeaders: ['X-API-Key', 'Authorization'],
};

export const iotAuthorizer: IotAuthorizerSpec = {
  name: 'TemDeviceAuthorizer',
  function: 'deviceAuthorizer',
};
