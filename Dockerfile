# Images for docker-compose.yml. `runtime`: cpu worker and inference server. `gpu`: the gpu worker,
# on CUDA 11.2 + cuDNN 8, which @tensorflow/tfjs-node-gpu 4.x (libtensorflow 2.9) is built against.
# Both install the optional native TensorFlow packages; their install scripts download libtensorflow.

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=dev --include=optional && npm cache clean --force
COPY . .
USER node
CMD ["node", "--require", "tsx/cjs", "workers/cpu.ts"]

FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS gpu
ARG NODE_VERSION=20.19.5
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils \
 && curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
    | tar -xJ -C /usr/local --strip-components=1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=dev --include=optional && npm cache clean --force
COPY . .
CMD ["node", "--require", "tsx/cjs", "workers/gpu.ts"]
