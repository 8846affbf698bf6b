import type { Logger } from './types';

/** The default logger: `console.error` / `console.warn`, with the message (when given) first. */
export const consoleLogger: Logger = {
  error: (error, message) => {
    if (message === undefined) console.error(error);
    else console.error(message, error);
  },
  warn: (error, message) => {
    if (message === undefined) console.warn(error);
    else console.warn(message, error);
  },
};
