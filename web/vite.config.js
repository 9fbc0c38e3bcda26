// Bundles the dashboard into dist/, which the API serves at /. Everything is local: no CDN.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 400 },
});
