import { webHarness } from './adapters/web';
import { conformance } from './suite';

conformance(webHarness, { proxyWarnings: false });
