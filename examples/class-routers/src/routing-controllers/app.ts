import 'reflect-metadata';
import express, { type Express } from 'express';
import { useExpressServer } from 'routing-controllers';
import { AuthController } from './auth.controller';
import { ItemsController } from './items.controller';

/** An Express app with the routing-controllers controllers (not listening yet). */
export function createRoutingControllersApp(): Express {
  const app = express();
  // Behind a reverse proxy? Then: app.set('trust proxy', 1) — ratekeeper uses req.ip as Express computes it.
  return useExpressServer(app, {
    controllers: [AuthController, ItemsController],
    // No request bodies or DTOs here: class-transformer and class-validator stay unused.
    classTransformer: false,
    validation: false,
  });
}
