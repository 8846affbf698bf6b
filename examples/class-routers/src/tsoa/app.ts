import express, { type Express } from 'express';
import { loadTsoaRoutes } from './routes';

/** An Express app with the tsoa controllers' generated routes (not listening yet). */
export async function createTsoaApp(root: string): Promise<Express> {
  const app = express();
  // Behind a reverse proxy? Then: app.set('trust proxy', 1) — ratekeeper uses req.ip as Express computes it.
  app.use(express.json());
  (await loadTsoaRoutes(root))(app);
  return app;
}
