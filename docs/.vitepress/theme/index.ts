// The default VitePress theme with the simulator's components registered for every page.
import type { Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import GuideChart from './GuideChart.vue';
import Simulator from './Simulator.vue';
import './custom.css';

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('Simulator', Simulator);
    app.component('GuideChart', GuideChart);
  },
} satisfies Theme;
