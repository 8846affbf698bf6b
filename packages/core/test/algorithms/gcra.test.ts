import { describeModelProperty } from './property';

describe('gcra', () => {
  describeModelProperty('gcra');
});
