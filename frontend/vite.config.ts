// Two pages, one build: the bureau's map (index.html, served at /) and the family
// doctor's phone page (m/index.html, served at /m/). Everything - MapLibre, its worker,
// styles - ends up in ../service/static with hashed names; nothing comes from a CDN.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: __dirname,
  // The service mounts the build output at /static (service/routes/pages.py); a
  // deployment under a path prefix gets the prefix added to these URLs by pages.py.
  base: "/static/",
  publicDir: false,
  // `npm run dev`: pages at http://127.0.0.1:5173/static/ (map) and /static/m/ (phone),
  // the API and tiles from a `healthmap serve` on :8000.
  server: {
    host: "127.0.0.1",
    proxy: Object.fromEntries(
      ["/api", "/auth", "/tiles", "/healthz"].map((p) => [p, "http://127.0.0.1:8000"]),
    ),
  },
  build: {
    outDir: resolve(__dirname, "../service/static"),
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2020",
    // MapLibre alone is ~1 MB minified; say so instead of warning on every build.
    chunkSizeWarningLimit: 1500,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        map: resolve(__dirname, "index.html"),
        phone: resolve(__dirname, "m/index.html"),
        console: resolve(__dirname, "console/index.html"),
        planner: resolve(__dirname, "planner/index.html"),
        resident: resolve(__dirname, "r/index.html"),
        province: resolve(__dirname, "province/index.html"),
      },
      output: {
        // MapLibre (shared by both pages, changes rarely) in a chunk of its own; the
        // shared helpers (API client, DOM) in another.
        manualChunks: (id: string) =>
          id.includes("node_modules/maplibre-gl")
            ? "maplibre"
            : id.includes("/src/common/")
              ? "common"
              : undefined,
      },
    },
  },
});
