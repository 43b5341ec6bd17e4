/** Phone numbers in E.164 via libphonenumber-js; a number without + needs a default country. */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export function toE164(input: string, defaultCountry?: string): string | null {
  const cleaned = input.trim();
  if (!cleaned) return null;
  const parsed = parsePhoneNumberFromString(cleaned, defaultCountry as CountryCode | undefined);
  return parsed && parsed.isValid() ? parsed.number : null;
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
