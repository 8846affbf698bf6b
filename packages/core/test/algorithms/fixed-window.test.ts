import { describeModelProperty } from './property';

describe('fixed-window', () => {
  describeModelProperty('fixed-window');
});
