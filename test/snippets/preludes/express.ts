// Prelude `express`: the Express app a block uses without creating it.
import express from 'express';

const app = express();
