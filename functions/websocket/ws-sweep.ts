import type { ScheduledEvent } from 'aws-lambda';
import { webSocket } from '../../infra/topology/resources';
import { wsDeliveryFromEnv } from '../../shared/aws/ws-delivery-from-env';
import { logger } from '../../shared/observability';
import { lambda } from '../commons';

const delivery = wsDeliveryFromEnv('sweep', webSocket.limits);

/**
 * Once a minute (`topology.schedules`): every WebSocket connection whose API key was revoked, or whose credential
 * expired, is told and closed. The fan-out does the same before it delivers; this reaches the idle ones (ADR 0014).
 */
export const lambdaHandler = async (_event: ScheduledEvent): Promise<{ open: number }> => {
  const open = await delivery.sweep();
  logger.info('WebSocket connections swept', { open });
  return { open };
};

export const handler = lambda(lambdaHandler);
