/**
 * Message templates: `{{variable}}` placeholders, what each variable means,
 * extraction and validation of bodies, and rendering. Pure: no I/O.
 *
 * Variables come from three places: the patient (name, first_name), the
 * clinic (clinic, emergency_number) and an appointment (date, time, doctor).
 * A sender may also pass explicit values for any of them (`variables`).
 */

export const TEMPLATE_VARIABLES = ['name', 'first_name', 'clinic', 'emergency_number', 'date', 'time', 'doctor'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Variables whose value differs per recipient patient. */
export const PATIENT_VARIABLES: readonly TemplateVariable[] = ['name', 'first_name'];
/** Variables that need an appointment (or an explicit value). */
export const APPOINTMENT_VARIABLES: readonly TemplateVariable[] = ['date', 'time', 'doctor'];

/** Languages a template body may be written in, in fallback order. */
export const TEMPLATE_LANGUAGES = ['en', 'es', 'ca', 'hi'] as const;
export type TemplateLanguage = (typeof TEMPLATE_LANGUAGES)[number];

/**
 * How {{date}} and {{time}} read, in the organization's time zone. The SQL
 * (to_char) and luxon patterns must produce the same text: bulk sends render
 * in SQL, single sends in JS.
 */
export const DATE_FORMAT = { sql: 'DD/MM/YYYY', luxon: 'dd/MM/yyyy' } as const;
export const TIME_FORMAT = { sql: 'HH24:MI', luxon: 'HH:mm' } as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export function isTemplateVariable(name: string): name is TemplateVariable {
  return (TEMPLATE_VARIABLES as readonly string[]).includes(name);
}

/** The distinct variable names a body uses, in order of first use (known or not). */
export function extractVariables(body: string): string[] {
  const seen = new Set<string>();
  for (const m of body.matchAll(PLACEHOLDER)) seen.add(m[1]);
  return [...seen];
}

export interface TemplateProblem {
  /** The input field at fault, e.g. `bodies.es` or `message`. */
  field: string;
  message: string;
}

/** Problems of one body: unknown variables and `{{` that do not form a placeholder. */
export function checkBody(field: string, body: string): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const unknown = extractVariables(body).filter((v) => !isTemplateVariable(v));
  if (unknown.length) {
    problems.push({
      field,
      message: `unknown variable${unknown.length > 1 ? 's' : ''} ${unknown.map((v) => `{{${v}}}`).join(', ')}; allowed: ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
    });
  }
  const stripped = body.replace(PLACEHOLDER, '');
  if (stripped.includes('{{') || stripped.includes('}}')) {
    problems.push({ field, message: 'has a malformed placeholder: write variables as {{name}}' });
  }
  return problems;
}

/**
 * Problems of a set of bodies by language: each body on its own, then every
 * body must use the same variables as the reference body (English when
 * present), so a bulk send can be checked once for every language.
 */
export function checkBodies(bodies: Partial<Record<string, string>>, fieldPrefix = 'bodies'): TemplateProblem[] {
  const entries = orderedBodies(bodies);
  const problems = entries.flatMap(([lang, body]) => checkBody(`${fieldPrefix}.${lang}`, body));
  if (problems.length || entries.length < 2) return problems;
  const [refLang, refBody] = entries[0];
  const ref = new Set(extractVariables(refBody));
  for (const [lang, body] of entries.slice(1)) {
    const vars = new Set(extractVariables(body));
    const missing = [...ref].filter((v) => !vars.has(v));
    const extra = [...vars].filter((v) => !ref.has(v));
    if (missing.length || extra.length) {
      const parts = [
        missing.length ? `lacks ${missing.map((v) => `{{${v}}}`).join(', ')}` : '',
        extra.length ? `adds ${extra.map((v) => `{{${v}}}`).join(', ')}` : '',
      ].filter(Boolean);
      problems.push({ field: `${fieldPrefix}.${lang}`, message: `must use the same variables as bodies.${refLang}: it ${parts.join(' and ')}` });
    }
  }
  return problems;
}

/** Bodies in the fixed language order (en, es, ca, hi), then any others. */
export function orderedBodies(bodies: Partial<Record<string, string>>): [string, string][] {
  const entries = Object.entries(bodies).filter((e): e is [string, string] => typeof e[1] === 'string');
  const rank = (lang: string) => {
    const i = (TEMPLATE_LANGUAGES as readonly string[]).indexOf(lang);
    return i < 0 ? TEMPLATE_LANGUAGES.length : i;
  };
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

/** The variables used by any of the bodies. */
export function variablesOf(bodies: Partial<Record<string, string>>): TemplateVariable[] {
  const all = new Set<string>();
  for (const [, body] of orderedBodies(bodies)) for (const v of extractVariables(body)) all.add(v);
  return TEMPLATE_VARIABLES.filter((v) => all.has(v));
}

/**
 * The body for a recipient: their language, else the clinic's default
 * language, else the first body in the fixed language order.
 */
export function pickBody(bodies: Partial<Record<string, string>>, language: string | null | undefined, defaultLanguage: string): { language: string; body: string } {
  for (const lang of [language, defaultLanguage]) {
    if (lang && typeof bodies[lang] === 'string') return { language: lang, body: bodies[lang] as string };
  }
  const first = orderedBodies(bodies)[0];
  if (!first) throw new Error('a template needs at least one body');
  return { language: first[0], body: first[1] };
}

export type TemplateValues = Partial<Record<TemplateVariable, string>>;

/**
 * Replaces the placeholders that have a value; the others are written back in
 * canonical form (`{{ name }}` -> `{{name}}`) so a later pass (SQL) can find
 * them with a plain string replace.
 */
export function renderTemplate(body: string, values: TemplateValues): string {
  return body.replace(PLACEHOLDER, (_whole, name: string) => {
    const value = isTemplateVariable(name) ? values[name] : undefined;
    return value ?? `{{${name}}}`;
  });
}

/** The first word of a full name, for {{first_name}}. */
export function firstNameOf(name: string): string {
  return name.trim().split(/\s+/)[0] ?? '';
}
