import { spawn } from 'node:child_process';

/**
 * Runs `script` in a fresh Node process (same flags as this one, so `--expose-gc` and the tsx
 * loader carry over) and returns the JSON object it prints as its last stdout line. A fresh
 * process per measurement keeps heaps, JIT state and timers of contenders apart.
 */
export function runChild<T>(script: string, args: readonly string[], extraNodeFlags: readonly string[] = []): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...extraNodeFlags, script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`child ${args.join(' ')} exited with ${code}: ${out.slice(-500)}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`child ${args.join(' ')} printed no JSON result: ${out.slice(-500)}`));
      }
    });
  });
}
