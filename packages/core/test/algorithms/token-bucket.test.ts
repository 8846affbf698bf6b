import { bucketTable } from './bucket-table';
import { limitRows, runTable } from './table';

describe('token-bucket', () => {
  it.each([9, 10, 11])('%i requests at once against a limit of 10', (n) => {
    runTable({ limit: 10, window: 60_000, algorithm: 'token-bucket' }, limitRows(10, n));
  });

  bucketTable('token-bucket');
});
