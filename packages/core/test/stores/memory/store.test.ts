import { MemoryStore } from '@ratekeeper/core';
import { describeStoreContract } from './stores/store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());
