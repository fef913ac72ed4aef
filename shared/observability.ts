import { Logger } from '@aws-lambda-powertools/logger';

/** One logger per container, shared by every module of a function (Powertools reads POWERTOOLS_* settings). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'tem' });
