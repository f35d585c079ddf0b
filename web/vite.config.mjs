// The web app's build: `npm run build:web` writes dist/web, which `livereview serve` serves over
// HTTP (index.html for / and /review/<id>). The SDK core comes in as TypeScript sources.
import { fileURLToPath, URL } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npx vite web` during development: the API is on the server's HTTP port.
    proxy: { '/codereview.v1.CodeReviewService': 'http://127.0.0.1:8080' },
  },
});
