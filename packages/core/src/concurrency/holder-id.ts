/**
 * This process's part of every holder id: random, so holders of different processes never collide.
 * Made at the first use, not at load: workerd forbids random values in a module's global scope.
 */
let processId: string | undefined;

let seq = 0;

/** A holder id no other lease in any process has: the process's random id and a counter. @internal */
export function newHolderId(): string {
  if (processId === undefined) {
    const bytes = new Uint8Array(8);
    globalThis.crypto.getRandomValues(bytes);
    processId = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  seq++;
  return `${processId}:${seq.toString(36)}`;
}
