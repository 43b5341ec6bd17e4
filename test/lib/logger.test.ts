import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../lib/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { logger: createLogger('info', sink), lines };
}

describe('lib/logger', () => {
  it('redacts patient fields by key at info level', () => {
    const { logger, lines } = capture();
    logger.info({ phone: '+34612345678', text: 'me duele el pecho', patient: { name: 'Ana', email: 'ana@x.es' }, conversation_id: 'conv_1' }, 'turn');
    const line = JSON.stringify(lines[0]);
    assert.doesNotMatch(line, /612345678|duele|ana@x\.es/);
    assert.match(line, /conv_1/);
  });

  it("keeps an error's type, code and message but not a database error's detail, which can quote a phone", () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('duplicate key value violates unique constraint "patients_org_phone_unique"'), {
      code: '23505', detail: 'Key (organization_id, phone)=(org_1, +34612345678) already exists.', parameters: ['+34612345678'],
    });
    logger.error({ err }, 'failed');
    const logged = lines[0].err as Record<string, unknown>;
    assert.equal(logged.code, '23505');
    assert.match(String(logged.message), /patients_org_phone_unique/);
    assert.doesNotMatch(JSON.stringify(lines[0]), /612345678/);
  });
});
