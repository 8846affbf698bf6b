import { MemoryStore } from '@ratekeeper/core';
import { describeStoreContract } from '../store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());
