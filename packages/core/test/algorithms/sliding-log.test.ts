import { describeModelProperty } from './property';

describe('sliding-log', () => {
  describeModelProperty('sliding-log');
});
