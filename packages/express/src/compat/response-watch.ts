import type { Response } from 'express';

/**
 * `skipFailedRequests` and `skipSuccessfulRequests`: how a response ended, watched from the very
 * start of the request (before any asynchronous step, so an early `close` is not missed), and the
 * hit given back accordingly once the request was counted.
 *
 * Failed: `requestWasSuccessful` says no once the response is finished, or the connection closed
 * before the response ended, or the response emitted `error`. Succeeded: it says yes.
 */
export interface ResponseWatch {
  /** Gives the hit back (`refund`, at most once) when the response ends the way that is skipped. */
  arm(refund: () => void, wasSuccessful: () => boolean | PromiseLike<boolean>): void;
}

type Events = Pick<Response, 'once'> & Partial<Pick<Response, 'writableEnded'>>;

const once = (res: Events, event: 'finish' | 'close' | 'error'): Promise<void> =>
  new Promise((resolve) => {
    res.once(event, () => resolve());
  });

/** Starts watching `res`; `undefined` when neither option is on (or `res` emits no events). */
export function watchResponse(res: Partial<Events>, skipFailed: boolean, skipSuccessful: boolean): ResponseWatch | undefined {
  if ((!skipFailed && !skipSuccessful) || typeof res.once !== 'function') return undefined;
  const events = res as Events;
  const finish = once(events, 'finish');
  const close = skipFailed ? once(events, 'close') : undefined;
  const error = skipFailed ? once(events, 'error') : undefined;
  return {
    arm(refund, wasSuccessful) {
      // A predicate that throws or rejects keeps the hit: the response is gone, nothing else to do.
      const whenFinished = (skipIf: boolean): void => {
        void finish.then(wasSuccessful).then((ok) => {
          if (Boolean(ok) === skipIf) refund();
        }, ignore);
      };
      if (skipFailed) {
        whenFinished(false);
        void close?.then(() => {
          if (!events.writableEnded) refund();
        });
        void error?.then(refund);
      }
      if (skipSuccessful) whenFinished(true);
    },
  };
}

function ignore(): void {}
