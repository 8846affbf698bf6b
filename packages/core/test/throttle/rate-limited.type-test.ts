// Type test, checked by `npx tsc -p tsconfig.json --noEmit` (not run by jest). Each `@ts-expect-error`
// fails the check if the line below it compiles, so these prove the decorator and throttle keep types.
import { rateLimited, throttle } from '@ratekeeper/core';

interface Repo {
  name: string;
}

export class GitHub {
  constructor(readonly token: string) {}

  @rateLimited({ limit: 10, window: '1s' })
  async repo(name: string): Promise<Repo> {
    return { name };
  }

  @rateLimited({
    limit: 10,
    window: '1s',
    // key and cost annotate the same leading parameters
    key(this: GitHub, owner: string, _names: string[]) {
      return `${this.token}:${owner}`;
    },
    cost: (_owner: string, names: string[]) => names.length,
  })
  async repos(owner: string, names: string[]): Promise<Repo[]> {
    return names.map((name) => ({ name: `${owner}/${name}` }));
  }

  @rateLimited({ limit: 1, window: '1s', refundIf: (o: PromiseSettledResult<Repo>) => o.status === 'rejected' })
  async typedRefund(): Promise<Repo> {
    return { name: 'x' };
  }

  // @ts-expect-error a synchronous method cannot wait: the decorated method must return a promise
  @rateLimited({ limit: 1, window: '1s' })
  sync(): number {
    return 1;
  }

  // @ts-expect-error the key's parameters must match the method's first parameters
  @rateLimited({ limit: 1, window: '1s', key: (id: number) => String(id) })
  async byName(name: string): Promise<string> {
    return name;
  }

  // @ts-expect-error refundIf typed for another result type
  @rateLimited({ limit: 1, window: '1s', refundIf: (o: PromiseSettledResult<number>) => o.status === 'rejected' })
  async wrongRefund(): Promise<string> {
    return '';
  }

  // @ts-expect-error not for fields
  @rateLimited({ limit: 1, window: '1s' })
  field = async () => 1;

  // @ts-expect-error not for getters
  @rateLimited({ limit: 1, window: '1s' })
  get value(): Promise<number> {
    return Promise.resolve(1);
  }
}

class Other {
  // @ts-expect-error the key reads `this` as a GitHub, but this method is on another class
  @rateLimited({
    limit: 1,
    window: '1s',
    key(this: GitHub) {
      return this.token;
    },
  })
  async m(): Promise<void> {}
}

export async function usage(gh: GitHub, other: Other): Promise<void> {
  const repo: Repo = await gh.repo('ratekeeper');
  const repos: Repo[] = await gh.repos('octo', ['a', 'b']);
  // @ts-expect-error the decorated method keeps its parameter types
  await gh.repo(42);
  // @ts-expect-error ... and its return type
  const n: number = await gh.repo('x');
  void [repo, repos, n, other];

  const add = throttle((a: number, b: number) => a + b, { limit: 1, window: '1s', key: (a) => String(a) });
  const sum: number = await add(1, 2);
  // @ts-expect-error same parameters as the wrapped function
  await add('1', 2);
  // @ts-expect-error the result is a promise of the wrapped function's result
  const s: string = await add(1, 2);
  const fetched = throttle(async (url: string) => ({ url, status: 200 }), {
    limit: 1,
    window: '1s',
    refundIf: (o) => o.status === 'fulfilled' && o.value.status >= 500,
  });
  const { value } = await fetched.withHandle('/x');
  const status: number = value.status;
  // @ts-expect-error key function gets the wrapped function's parameters
  throttle((a: number) => a, { limit: 1, window: '1s', key: (a: string) => a });
  void [sum, s, status];
}
