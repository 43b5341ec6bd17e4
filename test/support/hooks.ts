/** Mocha root hooks: every test process starts with TZ=UTC and ends with the shared service stopped. */
import { stopAll } from './service.js';

process.env.TZ = 'UTC';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopAll();
  },
};
