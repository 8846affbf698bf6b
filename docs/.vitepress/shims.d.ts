// Vue single-file components, for the type check of the site's TypeScript (tsc cannot read them).
declare module '*.vue' {
  import type { DefineComponent } from 'vue';

  const component: DefineComponent;
  export default component;
}
