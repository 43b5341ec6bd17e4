/** Phone numbers in E.164 via libphonenumber-js; a number without + needs a default country. */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export function toE164(input: string, defaultCountry?: string): string | null {
  const cleaned = input.trim();
  if (!cleaned) return null;
  const parsed = parsePhoneNumberFromString(cleaned, defaultCountry as CountryCode | undefined);
  return parsed && parsed.isValid() ? parsed.number : null;
}

/** A country for numbers written without "+", guessed from the clinic's time zone (the few zones we serve). */
const COUNTRY_BY_ZONE: Record<string, string> = {
  'Europe/Madrid': 'ES', 'Atlantic/Canary': 'ES', 'Africa/Ceuta': 'ES', 'Europe/Andorra': 'AD',
  'Asia/Kolkata': 'IN', 'Asia/Calcutta': 'IN', 'Europe/London': 'GB', 'Europe/Paris': 'FR', 'Europe/Lisbon': 'PT',
  'America/New_York': 'US', 'America/Chicago': 'US', 'America/Denver': 'US', 'America/Los_Angeles': 'US',
  'America/Mexico_City': 'MX', 'America/Bogota': 'CO', 'America/Argentina/Buenos_Aires': 'AR',
};

/** E.164 of a number a patient typed: as written (with +), else in the clinic's country; null when it is no number we could dial. */
export function toE164InZone(raw: string, timeZone: string): string | null {
  return toE164(raw) ?? (COUNTRY_BY_ZONE[timeZone] ? toE164(raw, COUNTRY_BY_ZONE[timeZone]) : null);
}

/** For logs at info and above: keep the country code and the last two digits only. */
export function maskPhone(e164: string | null | undefined): string {
  if (!e164) return '';
  return e164.length <= 5 ? '***' : `${e164.slice(0, 3)}***${e164.slice(-2)}`;
}

/** A number as people write it, "+34 931 23 45 67"; the input unchanged when it does not parse. */
export function formatPhoneForPeople(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}
