/** CareChat itself, as the benchmark runs it: PostgreSQL, message content sealed, rate limits off, quiet logs. */
import { loadConfig } from '../../lib/config.js';
import { startService } from '../../main.js';
import { BENCH_ENCRYPTION_KEYS } from '../lib.js';

const config = loadConfig({ ENCRYPTION_KEYS: BENCH_ENCRYPTION_KEYS, ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMITS_ENABLED: 'false', SEED_DEMO: 'false' });
const svc = await startService({ config, skipBootstrap: true });
process.stdout.write(`LISTENING ${svc.port}\n`);
process.once('SIGTERM', () => { svc.stop().then(() => process.exit(0)); });
