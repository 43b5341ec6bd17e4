import assert from 'node:assert/strict';
import { computeSlots, distinctTimes, partOfDayOf, type AvailableSlot } from '../../models/slots.js';
import { DateTime } from 'luxon';
import { addDays, dayWindows, validateWorkingHours, weekdayOf, wallTimeToInstant, withinWorkingHours, localTime, type WorkingHours } from '../../models/workingHours.js';

const hours = (day: string, ranges: string[]): Partial<WorkingHours> => ({ [day]: ranges });
const isoOf = (ms: number) => new Date(ms).toISOString();
const longAgo = new Date('2000-01-01T00:00:00Z');

function slotsOn(wh: Partial<WorkingHours>, date: string, zone: string, minutes: number, booked: Array<[string, string]> = [], now = longAgo) {
  return computeSlots({
    windows: dayWindows(wh, date, zone),
    booked: booked.map(([s, e]) => ({ start: Date.parse(s), end: Date.parse(e) })),
    durationMinutes: minutes,
    now,
  }).map((s) => ({ utc: isoOf(s.start), local: localTime(s.start, zone) }));
}

describe('slot computation (models/slots, models/workingHours)', () => {
  it('steps by the duration inside each working range, in the zone of the hours', () => {
    const slots = slotsOn(hours('monday', ['09:00-10:00', '14:00-15:00']), '2027-01-25', 'Europe/Madrid', 30);
    assert.deepEqual(slots.map((s) => s.local), ['09:00', '09:30', '14:00', '14:30']);
    assert.equal(slots[0].utc, '2027-01-25T08:00:00.000Z');
  });

  it('does not offer a slot that would run past the end of a range', () => {
    const slots = slotsOn(hours('monday', ['09:00-10:00']), '2027-01-25', 'UTC', 45);
    assert.deepEqual(slots.map((s) => s.local), ['09:00']);
  });

  it('removes booked time and the past', () => {
    const slots = slotsOn(hours('monday', ['09:00-11:00']), '2027-01-25', 'UTC', 30,
      [['2027-01-25T09:15:00Z', '2027-01-25T09:45:00Z']], new Date('2027-01-25T09:01:00Z'));
    // 09:00 is past, 09:00 and 09:30 overlap the booking; 10:00 and 10:30 remain.
    assert.deepEqual(slots.map((s) => s.local), ['10:00', '10:30']);
  });

  it('Europe/Madrid, spring forward (2027-03-28): the missing hour 02:00-03:00 has no slots, nothing else is lost', () => {
    const slots = slotsOn(hours('sunday', ['01:00-04:00']), '2027-03-28', 'Europe/Madrid', 30);
    assert.deepEqual(slots.map((s) => s.local), ['01:00', '01:30', '03:00', '03:30']);
    assert.deepEqual(slots.map((s) => s.utc), ['2027-03-28T00:00:00.000Z', '2027-03-28T00:30:00.000Z', '2027-03-28T01:00:00.000Z', '2027-03-28T01:30:00.000Z']);
  });

  it('Europe/Madrid, fall back (2027-10-31): the repeated hour 02:00-03:00 is offered twice, at distinct instants', () => {
    const slots = slotsOn(hours('sunday', ['01:00-04:00']), '2027-10-31', 'Europe/Madrid', 30);
    assert.deepEqual(slots.map((s) => s.local), ['01:00', '01:30', '02:00', '02:30', '02:00', '02:30', '03:00', '03:30']);
    assert.equal(new Set(slots.map((s) => s.utc)).size, 8);
    assert.equal(slots[0].utc, '2027-10-30T23:00:00.000Z');
    assert.equal(slots[7].utc, '2027-10-31T02:30:00.000Z');
  });

  it('America/New_York, both changes of 2027 (March 14, November 7)', () => {
    const spring = slotsOn(hours('sunday', ['01:00-04:00']), '2027-03-14', 'America/New_York', 60);
    assert.deepEqual(spring.map((s) => `${s.local}=${s.utc}`), ['01:00=2027-03-14T06:00:00.000Z', '03:00=2027-03-14T07:00:00.000Z']);
    const fall = slotsOn(hours('sunday', ['01:00-03:00']), '2027-11-07', 'America/New_York', 60);
    assert.deepEqual(fall.map((s) => `${s.local}=${s.utc}`), ['01:00=2027-11-07T05:00:00.000Z', '01:00=2027-11-07T06:00:00.000Z', '02:00=2027-11-07T07:00:00.000Z']);
  });

  it('a range starting inside the spring gap starts at the jump; an end inside the repeated hour is its later occurrence', () => {
    assert.equal(isoOf(wallTimeToInstant('2027-03-28', 150, 'Europe/Madrid', 'start')), '2027-03-28T01:00:00.000Z');
    assert.equal(isoOf(wallTimeToInstant('2027-10-31', 150, 'Europe/Madrid', 'start')), '2027-10-31T00:30:00.000Z');
    assert.equal(isoOf(wallTimeToInstant('2027-10-31', 150, 'Europe/Madrid', 'end')), '2027-10-31T01:30:00.000Z');
  });

  it('touching ranges merge, so an appointment may span them; a day without hours has no window', () => {
    const wh = hours('monday', ['09:00-12:00', '12:00-13:00']);
    assert.equal(dayWindows(wh, '2027-01-25', 'UTC').length, 1);
    assert.ok(withinWorkingHours(wh, new Date('2027-01-25T11:45:00Z'), new Date('2027-01-25T12:15:00Z'), 'UTC'));
    assert.ok(!withinWorkingHours(wh, new Date('2027-01-25T12:45:00Z'), new Date('2027-01-25T13:15:00Z'), 'UTC'));
    assert.deepEqual(dayWindows(wh, '2027-01-26', 'UTC'), []);
  });

  it('parts of the day are read in local time', () => {
    assert.equal(partOfDayOf(Date.parse('2027-01-25T10:30:00Z'), 'Europe/Madrid'), 'morning');
    assert.equal(partOfDayOf(Date.parse('2027-01-25T11:30:00Z'), 'Europe/Madrid'), 'afternoon');
    assert.equal(partOfDayOf(Date.parse('2027-01-25T16:00:00Z'), 'Europe/Madrid'), 'evening');
  });

  it('validates working hours naming the exact element', () => {
    const { errors, value } = validateWorkingHours({ monday: ['09:00-13:00', '12:00-14:00', '25:00-26:00'], Tuesday: ['10:00-09:00'], funday: [] });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['working_hours.Tuesday[0]', 'working_hours.funday', 'working_hours.monday[1]', 'working_hours.monday[2]']);
    assert.deepEqual(value.sunday, []);
    assert.deepEqual(validateWorkingHours({ friday: ['14:00-18:00', '09:00-13:00'] }).value.friday, ['09:00-13:00', '14:00-18:00']);
  });

  it('names the weekday and adds days like the calendar does, across month, year and leap-day edges', () => {
    for (const date of ['2024-02-28', '2024-02-29', '2025-12-31', '2026-03-29', '2026-10-25', '2027-01-01', '0999-06-15']) {
      const luxonDay = DateTime.fromISO(date, { zone: 'UTC' });
      assert.equal(weekdayOf(date), luxonDay.toFormat('cccc').toLowerCase(), date);
      for (const days of [-400, -1, 0, 1, 2, 366]) assert.equal(addDays(date, days), luxonDay.plus({ days }).toISODate(), `${date} + ${days}`);
    }
  });

  it('distinctTimes offers each free time once, soonest first, with the same doctor index at every time (seed modulo the doctors free then)', () => {
    const slot = (doctor: string, time: string): AvailableSlot => ({
      doctorId: `doc_${doctor}`, doctorName: `Dr. ${doctor}`, startTime: new Date(`2030-03-06T${time}:00Z`), endTime: new Date(`2030-03-06T${time}:30Z`), localTime: time,
    });
    // Listed in no order; B is not free at 08:30, only C at 09:00.
    const free = [slot('C', '08:00'), slot('A', '08:30'), slot('B', '08:00'), slot('C', '09:00'), slot('A', '08:00'), slot('C', '08:30')];
    const offer = (seed: number) => distinctTimes(free, seed).map((s) => `${s.localTime} ${s.doctorName}`);
    assert.deepEqual(offer(0), ['08:00 Dr. A', '08:30 Dr. A', '09:00 Dr. C']);
    assert.deepEqual(offer(1), ['08:00 Dr. B', '08:30 Dr. C', '09:00 Dr. C']);
    assert.deepEqual(offer(2), ['08:00 Dr. C', '08:30 Dr. A', '09:00 Dr. C']);
    assert.deepEqual(offer(6), offer(0), 'the index wraps around (6 is 0 modulo 3 and modulo 2)');
    assert.deepEqual(distinctTimes([], 7), []);
  });
});
