/** Date and time vocabulary per language, written naturally and normalized by the date parser. */
import type { Lang, PartOfDay } from './types.js';

/** Index 0 = Monday (luxon weekday 1). No "sat"/"sun": they are everyday English words. */
export const WEEKDAYS: Record<Lang, readonly (readonly string[])[]> = {
  en: [['monday', 'mon'], ['tuesday', 'tue', 'tues'], ['wednesday', 'wed'], ['thursday', 'thu', 'thur', 'thurs'], ['friday', 'fri'],
    ['saturday'], ['sunday']],
  es: [['lunes'], ['martes'], ['miércoles'], ['jueves'], ['viernes'], ['sábado'], ['domingo']],
  ca: [['dilluns'], ['dimarts'], ['dimecres'], ['dijous'], ['divendres'], ['dissabte'], ['diumenge']],
  hi: [['somvar', 'somvaar', 'somwar', 'somwaar', 'सोमवार'], ['mangalvar', 'mangalwar', 'mangalvaar', 'mangalwaar', 'मंगलवार'],
    ['budhvar', 'budhwar', 'budhvaar', 'budhwaar', 'बुधवार'], ['guruvar', 'guruwar', 'guruvaar', 'brihaspativar', 'veervar', 'गुरुवार', 'बृहस्पतिवार'],
    ['shukravar', 'shukrawar', 'shukrvar', 'shukravaar', 'शुक्रवार'], ['shanivar', 'shaniwar', 'shanivaar', 'शनिवार'],
    ['ravivar', 'raviwar', 'ravivaar', 'itwar', 'itvar', 'itvaar', 'रविवार', 'इतवार']],
};

/** Index 0 = January. Abbreviations only count next to a day number, so "may" alone is not May. */
export const MONTHS: Record<Lang, readonly (readonly string[])[]> = {
  en: [['january', 'jan'], ['february', 'feb'], ['march', 'mar'], ['april', 'apr'], ['may'], ['june', 'jun'], ['july', 'jul'],
    ['august', 'aug'], ['september', 'sep', 'sept'], ['october', 'oct'], ['november', 'nov'], ['december', 'dec']],
  es: [['enero', 'ene'], ['febrero', 'feb'], ['marzo', 'mar'], ['abril', 'abr'], ['mayo', 'may'], ['junio', 'jun'], ['julio', 'jul'],
    ['agosto', 'ago'], ['septiembre', 'setiembre', 'sep', 'sept'], ['octubre', 'oct'], ['noviembre', 'nov'], ['diciembre', 'dic']],
  ca: [['gener', 'gen'], ['febrer', 'feb'], ['març', 'mar'], ['abril', 'abr'], ['maig'], ['juny'], ['juliol', 'jul'], ['agost', 'ago'],
    ['setembre', 'set'], ['octubre', 'oct'], ['novembre', 'nov'], ['desembre', 'des']],
  hi: [['janvari', 'जनवरी'], ['farvari', 'फ़रवरी', 'फरवरी'], ['march', 'मार्च'], ['aprail', 'अप्रैल'], ['mai', 'मई'], ['joon', 'जून'],
    ['julai', 'जुलाई'], ['agast', 'अगस्त'], ['sitambar', 'सितंबर', 'सितम्बर'], ['aktubar', 'अक्टूबर', 'अक्तूबर'],
    ['navambar', 'नवंबर', 'नवम्बर'], ['disambar', 'दिसंबर', 'दिसम्बर']],
};

/** d0-d2: today to the day after tomorrow; soon: the first free time, whatever the day. */
export type DayTag = 'd0' | 'd1' | 'd2' | 'soon' | PartOfDay;

/**
 * Phrases replaced by tags before anything else, longest first, so "pasado mañana" is not "mañana"
 * and "mañana por la mañana" is tomorrow + morning.
 */
export const DAY_PHRASES: readonly [string, readonly DayTag[]][] = [
  ['day after tomorrow', ['d2']], ['pasado mañana', ['d2']], ['demà passat', ['d2']], ['passat demà', ['d2']],
  ['parson', ['d2']], ['parso', ['d2']], ['parsoon', ['d2']], ['परसों', ['d2']],
  ['this morning', ['d0', 'morning']], ['this afternoon', ['d0', 'afternoon']], ['this evening', ['d0', 'evening']], ['tonight', ['d0', 'evening']],
  ['esta mañana', ['d0', 'morning']], ['esta tarde', ['d0', 'afternoon']], ['esta noche', ['d0', 'evening']],
  ['aquest matí', ['d0', 'morning']], ['aquesta tarda', ['d0', 'afternoon']], ['aquest vespre', ['d0', 'evening']], ['aquesta nit', ['d0', 'evening']],
  ['por la mañana', ['morning']], ['de la mañana', ['morning']], ['en la mañana', ['morning']], ['a la mañana', ['morning']],
  ['in the morning', ['morning']], ['al matí', ['morning']], ['pel matí', ['morning']], ['de matí', ['morning']],
  ['morning', ['morning']], ['matí', ['morning']], ['subah', ['morning']], ['subha', ['morning']], ['savere', ['morning']], ['सुबह', ['morning']],
  ['por la tarde', ['afternoon']], ['de la tarde', ['afternoon']], ['en la tarde', ['afternoon']], ['a la tarda', ['afternoon']],
  ['de la tarda', ['afternoon']], ['per la tarda', ['afternoon']], ['in the afternoon', ['afternoon']], ['afternoon', ['afternoon']],
  ['tarde', ['afternoon']], ['tarda', ['afternoon']], ['mediodía', ['afternoon']], ['migdia', ['afternoon']],
  ['dopahar', ['afternoon']], ['dopehar', ['afternoon']], ['dupahar', ['afternoon']], ['दोपहर', ['afternoon']],
  ['por la noche', ['evening']], ['de la noche', ['evening']], ['in the evening', ['evening']], ['al vespre', ['evening']], ['a la nit', ['evening']],
  ['evening', ['evening']], ['night', ['evening']], ['noche', ['evening']], ['vespre', ['evening']], ['nit', ['evening']],
  ['shaam', ['evening']], ['sham', ['evening']], ['raat', ['evening']], ['शाम', ['evening']], ['रात', ['evening']],
  ['tomorrow', ['d1']], ['tmrw', ['d1']], ['tmr', ['d1']], ['mañana', ['d1']], ['demà', ['d1']], ['kal', ['d1']], ['कल', ['d1']],
  ['today', ['d0']], ['hoy', ['d0']], ['avui', ['d0']], ['aaj', ['d0']], ['आज', ['d0']],
  ...(['as soon as possible', 'asap', 'earliest', 'first available', 'soonest', 'any day', 'any time', 'anytime', 'whenever',
    'lo antes posible', 'cuanto antes', 'lo más pronto', 'el primer hueco', 'la primera disponible', 'cualquier día', 'cualquier hora',
    'cuando sea', 'me da igual', 'com més aviat millor', 'al més aviat possible', 'el primer forat', 'la primera disponible',
    'qualsevol dia', 'qualsevol hora', 'quan sigui', 'tant me fa', 'jaldi se jaldi', 'jitna jaldi', 'jaldi', 'kabhi bhi', 'koi bhi din',
    'koi bhi time', 'जल्दी', 'कभी भी'] as const).map((p) => [p, ['soon']] as [string, DayTag[]]),
];

/** Greetings that contain part-of-day words but say nothing about when to book. */
export const GREETINGS_WITH_TIME: readonly string[] = ['good morning', 'good afternoon', 'good evening', 'good night', 'buenos días',
  'buenas tardes', 'buenas noches', 'bon dia', 'bona tarda', 'bona nit', 'good day'];

export const IN_DAYS_PATTERNS: readonly RegExp[] = [/\bin (\d{1,2}) days?\b/, /\ben (\d{1,2}) dias\b/, /\bd aqui a (\d{1,2}) dies\b/,
  /\bdintre de (\d{1,2}) dies\b/, /\b(\d{1,2}) din (?:baad|bad|mein|me)\b/];
