import { join } from 'node:path';
import type { Router } from 'express';
import { generateRoutes } from 'tsoa';

/** Where the generated routes go: git-ignored, written anew by every start and test run. */
const OUT = ['.generated', 'tsoa'] as const;

/**
 * tsoa's route generation (what `tsoa routes` does), programmatically: reads the controllers'
 * decorators and writes `.generated/tsoa/routes.ts`, whose `RegisterRoutes(app)` registers each
 * route with its `@Middlewares` before the handler. Returns that function.
 * @param root the example's folder (examples/class-routers)
 */
export async function loadTsoaRoutes(root: string): Promise<(app: Router) => void> {
  const routesDir = join(root, ...OUT);
  await generateRoutes(
    {
      entryFile: '',
      controllerPathGlobs: [join(root, 'src', 'tsoa', '*.controller.ts')],
      routesDir,
      middleware: 'express',
      noImplicitAdditionalProperties: 'throw-on-extras',
      bodyCoercion: true,
      noWriteIfUnchanged: true,
    },
    { experimentalDecorators: true, emitDecoratorMetadata: true },
  );
  // A path only known at run time: the file does not exist before the first run (nor for `tsc`).
  const generated = join(routesDir, 'routes.ts');
  const { RegisterRoutes } = (await import(generated)) as { RegisterRoutes: (app: Router) => void };
  return RegisterRoutes;
}
