// Prelude `koa`: the Koa app and @koa/router router a block uses without creating them.
import Router from '@koa/router';
import Koa from 'koa';

const app = new Koa();
const router = new Router();
