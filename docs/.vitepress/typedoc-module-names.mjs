// TypeDoc names a module after its path (`core/src/http`); the API reference names it as users
// import it (`@ratekeeper/core/http`).
import { Converter } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      const match = /^(\w+)\/src(?:\/(\w+))?$/.exec(module.name);
      if (match === null) continue;
      const [, pkg, entry] = match;
      module.name = `@ratekeeper/${pkg}${entry === undefined ? '' : `/${entry}`}`;
    }
  });
}
