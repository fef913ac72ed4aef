import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { webSocket } from '../../infra/topology/resources';
import { encodeCallerContext } from '../../shared/authorizer-context';
import { authenticateCredential, authenticatorFromEnv } from '../../shared/aws/authenticator';
import { headerValues, webSocketCredential } from '../../shared/domain/credentials';
import { decide } from '../../shared/domain/permissions';
import { type AuthResult, callerContextOf } from '../../shared/domain/principals';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const { authenticator } = authenticatorFromEnv();
const ws = webSocket;
/** What a connection may read: the HTTP API's read permissions decide it, so both boundaries show the same data. */
const READ_EVENTS = 'events.get.event_list';
const READ_ALERTS = 'alerts.get.alert_list';

function queryValues(event: APIGatewayRequestAuthorizerEvent, name: string): string[] {
  const many = event.multiValueQueryStringParameters?.[name];
  if (many && many.length > 0) return [...many];
  const one = event.queryStringParameters?.[name];
  return one === undefined ? [] : [one];
}

const authenticate = (event: APIGatewayRequestAuthorizerEvent): Promise<AuthResult> =>
  authenticateCredential(
    authenticator,
    webSocketCredential(
      (name) => headerValues(event, name),
      (name) => queryValues(event, name),
      ws.credentialQueryParameters,
    ),
  );

/**
 * `$connect` of the WebSocket API: the same credentials and principals as the HTTP API, and the permission
 * `topology.webSocket.permission`. Throwing `Unauthorized` is a 401 to the client; a Deny policy a 403. The context
 * carries who the caller is, what it may read and which key's revocation ends the connection.
 */
export const lambdaHandler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const result = await authenticate(event);
  if (!result.ok) {
    logger.info('WebSocket credential refused', { reason: result.reason, keyId: result.keyId });
    throw new Error('Unauthorized');
  }
  const { principal } = result;
  const allowed = decide(principal.grants, ws.permission).allowed;
  const credential = principal.credential;
  const revocationKeyId =
    credential.type === 'api-key' ? credential.keyId : credential.type === 'jwt' ? credential.keyId : undefined;
  logger.info('WebSocket credential accepted', { principalId: principal.principalId, allowed });
  return {
    principalId: principal.principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: allowed ? 'Allow' : 'Deny', Resource: event.methodArn }],
    },
    context: {
      ...encodeCallerContext(callerContextOf(principal)),
      ...(revocationKeyId === undefined ? {} : { revocationKeyId }),
      mayReadEvents: String(decide(principal.grants, READ_EVENTS).allowed),
      mayReadAlerts: String(decide(principal.grants, READ_ALERTS).allowed),
    },
  };
};

export const handler = lambda(lambdaHandler);
