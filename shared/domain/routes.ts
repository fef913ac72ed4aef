/**
 * Routes and permissions: what the authorizer, the IAM policy builder and the OpenAPI document need to know about the
 * HTTP API, without the rest of the topology (infra/topology.ts declares the routes with these types).
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteSpec<F extends string = string> {
  method: HttpMethod;
  /** API Gateway resource path, `{name}` for a path parameter. */
  path: string;
  /** `<app>.<http_method>.<view_name>`: what the authorizer checks for this route. */
  permission: string;
  function: F;
  /** `none` for the few public routes (JWKS, OpenAPI document); every other route goes through the authorizer. */
  auth?: 'authorizer' | 'none';
}
