#!/usr/bin/env node
// Entry point of the `tem` operator CLI: registers the TypeScript loader, then runs scripts/tem.ts.
import { register } from 'tsx/esm/api';

// Node 20 is supported here until the SDK drops it; Lambda itself runs Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./tem.ts');
