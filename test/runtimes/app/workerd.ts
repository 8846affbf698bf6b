// workerd entry of the scenario app (a `modules` worker): the client address from `CF-Connecting-IP`,
// which Cloudflare sets (the tests set it, as Cloudflare would). Hono gets the bindings as `c.env`.

import { cloudflareIp } from '@ratekeeper/web';
import { createApp } from './scenarios';

const handler = createApp({ name: 'workerd', ip: cloudflareIp });

export default {
  fetch: (request: Request, env: unknown) => handler(request, env),
};
