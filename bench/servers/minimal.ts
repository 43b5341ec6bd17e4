/**
 * The floor: a minimal Koa + @koa/router + pg handler doing the same queries
 * as our endpoints, with nothing else (no auth, validation, envelope, logs).
 */
import Koa from 'koa';
import Router from '@koa/router';
import pg from 'pg';
import type { AddressInfo } from 'node:net';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = new Koa();
const router = new Router();
const ORG = process.env.BENCH_ORG_ID!;

router.get('/appointments', async (ctx) => {
  const doctorId = String(ctx.query.doctor_id);
  const start = new Date(String(ctx.query.start_date)).toISOString();
  const where = 'a.organization_id = $1 AND a.doctor_id = $2 AND a.start_time >= $3';
  const [count, page] = await Promise.all([
    pool.query(`SELECT count(*) FROM appointments a WHERE ${where}`, [ORG, doctorId, start]),
    pool.query(`SELECT a.*, p.name AS patient_name, p.phone AS patient_phone, d.name AS doctor_name
      FROM appointments a JOIN patients p ON p.id = a.patient_id JOIN doctors d ON d.id = a.doctor_id
      WHERE ${where} ORDER BY a.start_time LIMIT 20`, [ORG, doctorId, start]),
  ]);
  ctx.body = { success: true, data: page.rows, pagination: { total: Number(count.rows[0].count) } };
});

router.get('/appointments/available-slots', async (ctx) => {
  const doctorId = String(ctx.query.doctor_id);
  const date = String(ctx.query.date);
  const duration = 30;
  const doctor = await pool.query('SELECT id, name FROM doctors WHERE organization_id = $1 AND id = $2', [ORG, doctorId]);
  const dayStart = new Date(`${date}T07:00:00Z`);
  const dayEnd = new Date(`${date}T19:00:00Z`);
  const booked = await pool.query(`SELECT start_time, end_time FROM appointments WHERE organization_id = $1 AND doctor_id = $2
    AND status IN ('scheduled','confirmed') AND start_time < $4 AND end_time > $3`, [ORG, doctorId, dayStart, dayEnd]);
  const slots = [];
  for (let t = dayStart.getTime(); t + duration * 60_000 <= dayEnd.getTime(); t += duration * 60_000) {
    const end = t + duration * 60_000;
    if (!booked.rows.some((b) => b.start_time.getTime() < end && b.end_time.getTime() > t)) slots.push({ start_time: new Date(t).toISOString() });
  }
  ctx.body = { success: true, data: { doctor_id: doctor.rows[0]?.id, available_slots: slots } };
});

app.use(router.routes());
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`));
process.once('SIGTERM', () => { server.close(); pool.end().then(() => process.exit(0)); });
