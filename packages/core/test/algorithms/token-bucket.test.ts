import { describeModelProperty } from './property';

describe('token-bucket', () => {
  describeModelProperty('token-bucket');
});
