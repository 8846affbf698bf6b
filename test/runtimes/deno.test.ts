import { runtimeSuite } from './suite';

runtimeSuite('deno');
