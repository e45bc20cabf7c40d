# syntax=docker/dockerfile:1
# Images for docker-compose.yml.
#   runtime  cpu worker and inference server: TensorFlow.js on the WebAssembly backend, no native
#            TensorFlow (neither @tensorflow/tfjs-node nor -gpu is in the image).
#   gpu      gpu worker: @tensorflow/tfjs-node-gpu 4.22 (libtensorflow 2.9.1, built for CUDA 11.2 +
#            cuDNN 8.1) on CUDA 11.8 + cuDNN 8, Ubuntu 22.04. CUDA 12 and later ship other sonames
#            (libcudart.so.12), which libtensorflow 2.9 cannot load; docs/deploy.md "GPU nodes" explains.
# Both run as `node` (uid 1000) and create /data/buffer owned by it, so the compose `buffer` volume
# starts writable. Node 24, the LTS line with the longest support left (docs/node-versions.md);
# tfjs-node-gpu 4.22 runs on it through ml/tfjs-node-compat.ts.

FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the install scripts that matter are the native TensorFlow packages' libtensorflow
# downloads; each image decides below which of them it runs. The rest (esbuild, swc) find their
# platform binaries in optional packages without them.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM deps AS deps-runtime
# better-sqlite3 stays unbuilt: on this Node (24) `retrain bridge sqlite` uses node:sqlite (bridge/sqlite-open.ts).
RUN rm -rf node_modules/@tensorflow/tfjs-node node_modules/@tensorflow/tfjs-node-gpu

FROM deps AS deps-gpu
# Downloads libtensorflow-gpu 2.9.1 and the prebuilt N-API binding into the package.
RUN rm -rf node_modules/@tensorflow/tfjs-node \
 && npm rebuild @tensorflow/tfjs-node-gpu \
 && npm cache clean --force

FROM scratch AS source
WORKDIR /app
# Only what the processes run: the code folders (layers.mjs), the command line, the scripts the
# images call (the workflow bundle, the bucket job) and the example specs; never the context as a
# whole, so nothing a deploy step leaves in the checkout (a .env, a key file) reaches a layer
# (test/unit/image-context.test.ts checks the list against layers.mjs).
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY examples ./examples
COPY common ./common
COPY workflows ./workflows
COPY storage ./storage
COPY ml ./ml
COPY datasets ./datasets
COPY monitoring ./monitoring
COPY events ./events
COPY rollout ./rollout
COPY config ./config
COPY activities ./activities
COPY runs ./runs
COPY bridge ./bridge
COPY control ./control
COPY serving ./serving
COPY workers ./workers
COPY clients ./clients

FROM node:24.21.0-bookworm-slim AS runtime
ENV NODE_ENV=production \
    TFJS_BACKEND=wasm \
    RETRAIN_BUFFER_DIR=/data/buffer
RUN mkdir -p /data/buffer /data/jobs && chown node:node /data/buffer /data/jobs
WORKDIR /app
COPY --from=deps-runtime /app/node_modules ./node_modules
COPY --from=source /app ./
# The workflows bundled once here (dist/workflow-bundle.js): the cpu worker starts without webpack.
RUN node --require tsx/cjs scripts/build-workflow-bundle.ts
USER node
CMD ["node", "--require", "tsx/cjs", "workers/cpu.ts"]

FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04 AS gpu
ENV NODE_ENV=production \
    TFJS_BACKEND=tensorflow-gpu \
    RETRAIN_BUFFER_DIR=/data/buffer
# The same Node.js build as the runtime image, without a download.
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --create-home --shell /bin/sh node \
 && mkdir -p /data/buffer && chown node:node /data/buffer
WORKDIR /app
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=source /app ./
USER node
CMD ["node", "--require", "tsx/cjs", "workers/gpu.ts"]
