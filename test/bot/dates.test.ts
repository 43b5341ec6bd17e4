import assert from 'node:assert/strict';
import { parseWhen, type When } from '../../bot/understanding/dates.js';

/** Saturday 28 March 2026, 00:30 in Madrid (still Friday in UTC); clocks go forward on Sunday the 29th. */
const MADRID_NOW = new Date('2026-03-27T23:30:00Z');
/** Wednesday 11 March 2026, 01:30 in Kolkata (still Tuesday in UTC). */
const KOLKATA_NOW = new Date('2026-03-10T20:00:00Z');

const MADRID: [string, When][] = [
  ['tomorrow', { date: '2026-03-29' }],
  ['next Tuesday afternoon', { date: '2026-03-31', partOfDay: 'afternoon' }],
  ['mañana por la tarde', { date: '2026-03-29', partOfDay: 'afternoon' }],
  ['demà al matí', { date: '2026-03-29', partOfDay: 'morning' }],
  ['kal subah', { date: '2026-03-29', partOfDay: 'morning' }],
  ['today', { date: '2026-03-28' }],
  ['hoy', { date: '2026-03-28' }],
  ['avui', { date: '2026-03-28' }],
  ['aaj', { date: '2026-03-28' }],
  ['आज', { date: '2026-03-28' }],
  ['कल', { date: '2026-03-29' }],
  ['mañana', { date: '2026-03-29' }],
  ['demà', { date: '2026-03-29' }],
  ['day after tomorrow', { date: '2026-03-30' }],
  ['pasado mañana', { date: '2026-03-30' }],
  ['demà passat', { date: '2026-03-30' }],
  ['parson', { date: '2026-03-30' }],
  ['परसों', { date: '2026-03-30' }],
  ['por la mañana', { partOfDay: 'morning' }],
  ['mañana por la mañana', { date: '2026-03-29', partOfDay: 'morning' }],
  ['esta tarde', { date: '2026-03-28', partOfDay: 'afternoon' }],
  ['tonight', { date: '2026-03-28', partOfDay: 'evening' }],
  ['a la tarda', { partOfDay: 'afternoon' }],
  ['dopahar', { partOfDay: 'afternoon' }],
  ['सुबह', { partOfDay: 'morning' }],
  ['शाम', { partOfDay: 'evening' }],
  ['on friday', { date: '2026-04-03' }],
  ['el martes', { date: '2026-03-31' }],
  ['el próximo martes', { date: '2026-03-31' }],
  ['dimarts', { date: '2026-03-31' }],
  ['mangalvar', { date: '2026-03-31' }],
  ['मंगलवार', { date: '2026-03-31' }],
  ['saturday', { date: '2026-04-04' }],
  ['25/12', { date: '2026-12-25' }],
  ['1/3', { date: '2027-03-01' }],
  ['25/12/2027', { date: '2027-12-25' }],
  ['Dec 25', { date: '2026-12-25' }],
  ['December 25th', { date: '2026-12-25' }],
  ['25 de diciembre', { date: '2026-12-25' }],
  ['25 de desembre', { date: '2026-12-25' }],
  ["2 d'abril", { date: '2026-04-02' }],
  ['25 disambar', { date: '2026-12-25' }],
  ['2026-12-25', { date: '2026-12-25' }],
  ['in 3 days', { date: '2026-03-31' }],
  ['10am', { time: '10:00' }],
  ['10:30', { time: '10:30' }],
  ['at 3pm', { time: '15:00' }],
  ['12pm', { time: '12:00' }],
  ['a las 5', { time: '17:00' }],
  ['a las 5 de la tarde', { partOfDay: 'afternoon', time: '17:00' }],
  ['a les 10', { time: '10:00' }],
  ['5 baje', { time: '17:00' }],
  ['kal शाम 5 बजे', { date: '2026-03-29', partOfDay: 'evening', time: '17:00' }],
  ['el martes a las 10:30', { date: '2026-03-31', time: '10:30' }],
  ['la de les 11', { time: '11:00' }],
  ['la de las 12', { time: '12:00' }],
  ['the 10.30 one', { time: '10:30' }],
  ['10.12', { date: '2026-12-10' }],
  ['as soon as possible', { soonest: true }],
  ['cuanto antes, por la tarde', { soonest: true, partOfDay: 'afternoon' }],
  ['qualsevol dia', { soonest: true }],
  ['kabhi bhi', { soonest: true }],
  ['tomorrow, any time', { date: '2026-03-29' }],
  ['good morning', {}],
  ['buenos días', {}],
  ['2.', {}],
];

const KOLKATA: [string, When][] = [
  ['tomorrow', { date: '2026-03-12' }],
  ['kal', { date: '2026-03-12' }],
  ['today', { date: '2026-03-11' }],
  ['next Tuesday', { date: '2026-03-17' }],
  ['मंगलवार', { date: '2026-03-17' }],
  ['budhvar', { date: '2026-03-18' }],
  ['parson shaam', { date: '2026-03-13', partOfDay: 'evening' }],
  ['kal subah 10 baje', { date: '2026-03-12', partOfDay: 'morning', time: '10:00' }],
  ['mañana por la tarde', { date: '2026-03-12', partOfDay: 'afternoon' }],
];

function describeWhen(w: When): string {
  return [w.date, w.partOfDay, w.time].filter(Boolean).join(' ') || 'nothing';
}

describe('bot/understanding/dates', () => {
  describe('in Europe/Madrid, early on Saturday 28 March (Friday in UTC, DST the next day)', () => {
    for (const [text, expected] of MADRID) {
      it(`understands '${text}' as ${describeWhen(expected)}`, () => {
        assert.deepEqual(parseWhen(text, MADRID_NOW, 'Europe/Madrid'), expected);
      });
    }
  });

  describe('in Asia/Kolkata, early on Wednesday 11 March (Tuesday in UTC)', () => {
    for (const [text, expected] of KOLKATA) {
      it(`understands '${text}' as ${describeWhen(expected)}`, () => {
        assert.deepEqual(parseWhen(text, KOLKATA_NOW, 'Asia/Kolkata'), expected);
      });
    }
  });
});
