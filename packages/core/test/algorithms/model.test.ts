import { ALGORITHMS } from '../../src/rules';
import { describeModelProperty } from './property';

// Every registered algorithm (`src/algorithms/index.ts`) against its reference model (`model.ts`).
describe('reference models', () => {
  for (const algorithm of ALGORITHMS) describeModelProperty(algorithm);
});
