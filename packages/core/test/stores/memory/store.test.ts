import { MemoryStore } from '@ratekeeper/core';
import { describeStoreContract } from '@ratekeeper/core/testing';

describeStoreContract({ describe, it }, 'MemoryStore', () => new MemoryStore());
