import { describeModelProperty } from './property';

describe('sliding-window', () => {
  describeModelProperty('sliding-window');
});
