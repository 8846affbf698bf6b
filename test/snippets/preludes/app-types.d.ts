// In every block's program (not a prelude): the types the documentation's applications declare.
// `req.user` is what an authentication middleware (Passport, your own) puts on Express's request.
declare global {
  namespace Express {
    interface Request {
      user?: { id: string; plan: 'free' | 'pro' };
    }
  }
}

export {};
