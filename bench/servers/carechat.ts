/** CareChat itself, as the benchmark runs it: PostgreSQL, rate limits off, quiet logs. */
import { loadConfig } from '../../lib/config.js';
import { startService } from '../../main.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMITS_ENABLED: 'false', SEED_DEMO: 'false' });
const svc = await startService({ config, skipBootstrap: true });
process.stdout.write(`LISTENING ${svc.port}\n`);
process.once('SIGTERM', () => { svc.stop().then(() => process.exit(0)); });
