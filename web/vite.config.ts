/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The server (tunix-rt serve) serves the built UI from src/tunix_rt/web/dist.
// `npm run dev` proxies /api to a local server on TUNIX_RT_API (default 127.0.0.1:8000).
const apiTarget = process.env.TUNIX_RT_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../src/tunix_rt/web/dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': apiTarget, '/metrics': apiTarget },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
