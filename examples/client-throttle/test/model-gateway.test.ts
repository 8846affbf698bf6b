import { modelGateway } from '../src/model-gateway';

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('client-throttle example: a model gateway with per-tenant concurrency', () => {
  it('keeps at most two completions in flight per tenant; other tenants are not held up', async () => {
    const inFlight = new Map<string, number>();
    let most = 0;
    const finish: (() => void)[] = [];
    const complete = (tenant: string, prompt: string) =>
      new Promise<string>((resolve) => {
        const n = (inFlight.get(tenant) ?? 0) + 1;
        inFlight.set(tenant, n);
        most = Math.max(most, n);
        finish.push(() => {
          inFlight.set(tenant, (inFlight.get(tenant) ?? 1) - 1);
          resolve(`${tenant}:${prompt}`);
        });
      });
    const gateway = modelGateway(complete, { perTenant: 2, startsPerSecond: 1000 });
    const calls = [1, 2, 3, 4, 5].map((i) => gateway.complete('acme', `p${i}`));
    const other = gateway.complete('globex', 'q');
    await flush();
    expect(inFlight.get('acme')).toBe(2);
    expect(inFlight.get('globex')).toBe(1);
    while (finish.length > 0) {
      finish.shift()?.();
      await flush();
    }
    expect(await Promise.all(calls)).toEqual(['acme:p1', 'acme:p2', 'acme:p3', 'acme:p4', 'acme:p5']);
    expect(await other).toBe('globex:q');
    expect(most).toBe(2);
  });
});
