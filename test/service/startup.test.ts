import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Starts `node --import tsx main.ts` as `npm start` does, on a fresh data folder. */
function startProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    cwd: path.resolve(import.meta.dirname, '..', '..'),
    env: { ...process.env, DATABASE_URL: '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /"port":(\d+),"msg":"CareChat is listening"/.exec(out);
      if (m) { clearInterval(timer); resolve(Number(m[1])); }
    }, 50);
    child.once('exit', (code) => { clearInterval(timer); reject(new Error(`exited ${code}: ${out}`)); });
  });
  return { child, ready, output: () => out };
}

describe('npm start on a fresh machine', function () {
  this.timeout(60_000);

  it('creates the organization and admin on the embedded database, prints the generated password once, and shuts down gracefully on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carechat-start-'));
    const first = startProcess({ DATA_DIR: dataDir, ORG_NAME: 'Clínica Sol', ORG_TIMEZONE: 'Europe/Madrid' });
    const port = await first.ready;
    assert.match(first.output(), /password: \S{12,}/);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
    const password = /password: (\S+)/.exec(first.output())![1];
    const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password }),
    });
    assert.equal(login.status, 200);
    const token = ((await login.json()) as { data: { access_token: string } }).data.access_token;
    const doctors = await fetch(`http://127.0.0.1:${port}/api/v1/doctors`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(doctors.status, 200);
    assert.equal(((await doctors.json()) as { data: unknown[] }).data.length, 3, 'three demo doctors');
    const org = await fetch(`http://127.0.0.1:${port}/api/v1/settings/organization`, { headers: { Authorization: `Bearer ${token}` } });
    const settings = ((await org.json()) as { data: { name: string; time_zone: string } }).data;
    assert.equal(settings.name, 'Clínica Sol');
    assert.equal(settings.time_zone, 'Europe/Madrid');
    first.child.kill('SIGTERM');
    const [code] = await once(first.child, 'exit');
    assert.equal(code, 0);
    assert.match(first.output(), /"msg":"stopped"/);
    assert.equal(fs.existsSync(path.join(dataDir, 'carechat.lock')), false, 'lock released');

    // Second start on the same folder: no new organization, no password printed again.
    const second = startProcess({ DATA_DIR: dataDir });
    await second.ready;
    assert.doesNotMatch(second.output(), /password:/);
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to start with invalid configuration, naming the setting', async () => {
    const p = startProcess({ PORT: 'abc', ORG_TIMEZONE: 'Mars/Olympus' });
    const [code] = await once(p.child, 'exit');
    assert.equal(code, 1);
    assert.match(p.output(), /PORT/);
  });

  it('refuses a data folder another running process holds', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carechat-lock-'));
    const first = startProcess({ DATA_DIR: dataDir });
    await first.ready;
    const second = startProcess({ DATA_DIR: dataDir });
    const [code] = await once(second.child, 'exit');
    assert.equal(code, 1);
    assert.match(second.output(), /in use by process/);
    first.child.kill('SIGTERM');
    await once(first.child, 'exit');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
