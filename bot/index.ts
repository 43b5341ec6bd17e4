/** The conversation engine's pure parts: understanding, replies, dialogue. */
export * from './understanding/types.js';
export { RulesUnderstander, understandByRules } from './understanding/rules.js';
export { parseWhen, type When } from './understanding/dates.js';
export { CATALOGS, REPLY_KEYS, render, renderText, type Catalog, type ReplyKey, type ReplyParams } from './catalog/index.js';
export * from './dialogue/index.js';
