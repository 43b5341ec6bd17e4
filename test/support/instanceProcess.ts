/**
 * One CareChat instance in its own process, for the multi-instance tests:
 * `node --import tsx test/support/instanceProcess.ts` with the service's
 * environment (DATABASE_URL, TWILIO_*, REMINDER_TICK...) plus ORG_IDS (the
 * organizations it works for) and LEASE_SECONDS. Prints `LISTENING <port>`.
 */
import { startService } from '../../main.js';
import { loadConfig } from '../../lib/config.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
const organizationIds = process.env.ORG_IDS ? process.env.ORG_IDS.split(',') : undefined;
const svc = await startService({ config, skipBootstrap: true, organizationIds, leaseSeconds: Number(process.env.LEASE_SECONDS ?? 60) });
process.stdout.write(`LISTENING ${svc.port}\n`);
process.once('SIGTERM', () => {
  svc.stop().then(() => process.exit(0), () => process.exit(1));
});
