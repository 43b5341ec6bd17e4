/**
 * `npm run bench`: every benchmark, each printing its figures beside a floor
 * measured in the same run. Needs PostgreSQL (BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/carechat_bench, dropped and recreated).
 * BENCH_ONLY=api|chat|comms|tickets|voice runs one; BENCH_SECONDS sets the load duration.
 */
import { runApiBenchmark } from './api.js';
import { runChatBenchmark } from './chat.js';
import { runCommsBenchmark } from './comms.js';
import { runTicketSearchBenchmark } from './tickets.js';
import { runVoiceAudioBenchmark } from './voice.js';

const only = process.env.BENCH_ONLY;
const seconds = Number(process.env.BENCH_SECONDS ?? 10);

if (!only || only === 'api') {
  console.log('== API: appointments list and available slots ==');
  await runApiBenchmark({ connections: 50, seconds });
}
if (!only || only === 'chat') {
  console.log('\n== Chat: web chat booking turns ==');
  // Enough visitors that their per-visitor message limit does not cap what the server can do.
  await runChatBenchmark({ seconds, clients: Number(process.env.BENCH_CHAT_CLIENTS ?? 550), rounds: Number(process.env.BENCH_CHAT_ROUNDS ?? 3) });
}
if (!only || only === 'comms') {
  console.log('\n== Communications: bulk enqueue, dispatch, reminders ==');
  await runCommsBenchmark();
}
if (!only || only === 'tickets') {
  console.log('\n== Tickets: search in sealed descriptions ==');
  await runTicketSearchBenchmark();
}
if (!only || only === 'voice') {
  console.log('\n== Voice: a streamed call\'s audio, heard and spoken ==');
  runVoiceAudioBenchmark();
}
process.exit(0);
