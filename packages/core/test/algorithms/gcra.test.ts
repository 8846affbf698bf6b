import { bucketTable } from './bucket-table';
import { limitRows, runTable } from './table';

describe('gcra', () => {
  it.each([9, 10, 11])('%i requests at once against a limit of 10', (n) => {
    runTable({ limit: 10, window: 60_000, algorithm: 'gcra' }, limitRows(10, n));
  });

  bucketTable('gcra');
});
