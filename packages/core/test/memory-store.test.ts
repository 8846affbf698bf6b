import { MemoryStore } from '@ratekeeper/core';
import { describeStoreContract } from './contract/store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());
