// Prelude `runtimes`: the parts of Bun's and Deno's globals the blocks use (their type packages are
// not dependencies here), and a placeholder handler.
declare const Bun: {
  serve(options: {
    port?: number;
    fetch(request: Request, server: { requestIP(request: Request): { address: string } | null }): Response | Promise<Response>;
  }): unknown;
};
declare const Deno: {
  serve(handler: (request: Request, info: { remoteAddr: { hostname: string; port: number } }) => Response | Promise<Response>): unknown;
};
declare function handle(request: Request): Promise<Response>;
