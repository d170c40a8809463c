import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The API process serves dist/: hashed files under /assets/ get a year's immutable cache, index.html none.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', sourcemap: false },
  // `vite` (dev) next to a running `npm start`: the API and its OpenAPI document come from there.
  server: { proxy: { '/api': 'http://127.0.0.1:8000', '/docs': 'http://127.0.0.1:8000' } },
});
