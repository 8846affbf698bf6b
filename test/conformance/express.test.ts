import { expressHarness } from './adapters/express';
import { conformance } from './suite';

conformance(expressHarness('express 5'));
