import { topology } from '../../infra/topology';
import { explain } from '../../shared/domain/admin';
import { parseArgs, positionals, usageError } from '../lib/args';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

/** The routes the authorizer guards (public ones check no credential, so there is nothing to explain). */
const routeNames = topology.routes.filter((r) => r.auth !== 'none').map((r) => `${r.method} ${r.path}`);

export const explainUsage = `usage: tem explain --key KEYID --route "METHOD PATH"
  routes: ${routeNames.map((r) => `"${r}"`).join(', ')}`;
const spec = { usage: explainUsage, single: ['key', 'route'] };

/** `tem explain`: may this key call this route, and which rule decides it. */
export async function runExplain(argv: string[]): Promise<void> {
  const args = parseArgs(argv, spec);
  positionals(args, spec, []);
  const keyId = args.required('key');
  const name = args.required('route');
  const route = topology.routes.find((r) => `${r.method} ${r.path}` === name);
  if (!route) throw usageError(spec, `unknown route "${name}"`);
  if (route.auth === 'none')
    throw usageError(spec, `route "${name}" is public: no credential is checked, every caller may call it`);
  return result({ ...(await withPrincipalStore((store) => explain(store, keyId, route))) });
}
