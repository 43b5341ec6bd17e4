import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { localDate, localHour, localTime, mergeWeeklyHours } from '../../models/workingHours.js';

/** Every minute from an hour before to an hour after `around` (plus odd seconds), as luxon reads it in the zone. */
function agreesWithLuxon(zone: string, around: string): void {
  const center = DateTime.fromISO(around, { zone: 'UTC' }).toMillis();
  for (let t = center - 3600_000; t <= center + 3600_000; t += 60_000 + 7_000) {
    const expected = DateTime.fromMillis(t, { zone });
    const at = new Date(t).toISOString();
    assert.equal(localTime(t, zone), expected.toFormat('HH:mm'), `${zone} at ${at}`);
    assert.equal(localDate(t, zone), expected.toISODate(), `${zone} date at ${at}`);
    assert.equal(localHour(t, zone), expected.hour, `${zone} hour at ${at}`);
  }
}

describe('local times of instants (models/workingHours)', () => {
  it('match the time zone database across transitions, asked in any order', () => {
    agreesWithLuxon('Europe/Madrid', '2027-03-28T01:00:00Z'); // clocks go forward at 02:00 local
    agreesWithLuxon('Europe/Madrid', '2027-10-31T01:00:00Z'); // clocks go back at 03:00 local
    agreesWithLuxon('America/St_Johns', '2027-03-14T05:30:00Z'); // a half-hour zone
    agreesWithLuxon('Australia/Lord_Howe', '2027-04-03T15:00:00Z'); // a half-hour shift
    agreesWithLuxon('Asia/Kathmandu', '1985-12-31T18:30:00Z'); // +05:30 to +05:45
    agreesWithLuxon('Africa/Monrovia', '1972-01-07T00:44:30Z'); // -00:44:30 to UTC, inside a quarter hour of UTC
    agreesWithLuxon('Europe/Dublin', '1916-10-01T02:25:21Z'); // Dublin Mean Time to GMT, at an odd second
    // The same instants again, now remembered: still the same answers.
    agreesWithLuxon('Europe/Madrid', '2027-03-28T01:00:00Z');
    agreesWithLuxon('Africa/Monrovia', '1972-01-07T00:44:30Z');
  });
});

describe('mergeWeeklyHours (models/workingHours)', () => {
  it('joins several timetables per weekday, merging overlapping and touching ranges and skipping malformed ones', () => {
    const merged = mergeWeeklyHours([
      { monday: ['09:00-13:00', '16:00-18:00'], tuesday: ['10:00-12:00'] },
      { monday: ['12:00-14:00', '18:00-20:00'], tuesday: ['9-5', '12:00-11:00'], saturday: ['10:00-24:00'] },
      null,
    ]);
    assert.deepEqual(merged, {
      monday: ['09:00-14:00', '16:00-20:00'], tuesday: ['10:00-12:00'], wednesday: [], thursday: [], friday: [], saturday: ['10:00-24:00'], sunday: [],
    });
  });

  it('gives every day empty for no timetables', () => {
    assert.deepEqual(Object.values(mergeWeeklyHours([])).flat(), []);
  });
});
