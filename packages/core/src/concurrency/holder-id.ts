/** This process's part of every holder id: random, so holders of different processes never collide. */
const PROCESS_ID = (() => {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
})();

let seq = 0;

/** A holder id no other lease in any process has: the process's random id and a counter. @internal */
export function newHolderId(): string {
  seq++;
  return `${PROCESS_ID}:${seq.toString(36)}`;
}
