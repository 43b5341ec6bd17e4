/** The dialogue: a pure function from (state, event, context) to (state, actions). */
export { initialState, step, MISUNDERSTOOD_LIMIT } from './step.js';
export type * from './types.js';
