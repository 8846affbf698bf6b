import type { Algorithm } from '../rules';
import { fixedWindow } from './fixed-window';
import { gcra } from './gcra';
import { slidingLog } from './sliding-log';
import { slidingWindow } from './sliding-window';
import { tokenBucket } from './token-bucket';
import type { AlgorithmImpl, BaseState } from './types';

/** @internal The algorithm implementations by name. */
export const ALGORITHM_IMPLS: Record<Algorithm, AlgorithmImpl<BaseState>> = {
  'fixed-window': fixedWindow as unknown as AlgorithmImpl<BaseState>,
  'sliding-window': slidingWindow as unknown as AlgorithmImpl<BaseState>,
  'sliding-log': slidingLog as unknown as AlgorithmImpl<BaseState>,
  'token-bucket': tokenBucket as unknown as AlgorithmImpl<BaseState>,
  gcra: gcra as unknown as AlgorithmImpl<BaseState>,
};
