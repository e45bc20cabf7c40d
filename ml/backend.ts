import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type * as WasmBackend from '@tensorflow/tfjs-backend-wasm';
import { restoreUtilForTfjsNode } from './tfjs-node-compat';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

/** Order that `auto` tries: native GPU, native CPU, WebAssembly, then plain JavaScript. */
const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

let selected: Promise<BackendName> | undefined;

/**
 * Activates a TensorFlow.js backend once per process and says which one. The native packages are
 * optional dependencies: where they are missing (or libtensorflow is), `auto` falls through.
 */
export function selectBackend(
  choice: BackendChoice,
  log: (line: string) => void = () => {},
): Promise<BackendName> {
  selected ??= activateFirst(choice === 'auto' ? AUTO_ORDER : [choice], log);
  return selected;
}

async function activateFirst(order: BackendName[], log: (line: string) => void): Promise<BackendName> {
  const reasons: string[] = [];
  for (const name of order) {
    try {
      await activateBackend(name);
      log(`TensorFlow.js backend: ${name}${reasons.length ? ` (skipped: ${reasons.join('; ')})` : ''}`);
      return name;
    } catch (err) {
      reasons.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new Error(`No TensorFlow.js backend could start: ${reasons.join('; ')}`);
}

/**
 * Switches this process to backend `name`, loading it if needed. Models and checkpoints are plain
 * artefacts, so one trained on one backend loads on another: tests and benches compare backends
 * in one process this way. Workers and servers use {@link selectBackend}.
 */
export async function activateBackend(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      // Registers the `tensorflow` backend bound to CUDA; refuse it when no GPU is visible.
      // A package without its binding (its install script failed) would register half its kernels.
      if (!hasNativeBinding('@tensorflow/tfjs-node-gpu'))
        throw new Error('@tensorflow/tfjs-node-gpu is not installed with its native binding');
      process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
      restoreUtilForTfjsNode();
      require('@tensorflow/tfjs-node-gpu');
      await useBackend('tensorflow');
      if (!hasGpuDevice()) throw new Error('tfjs-node-gpu loaded but no GPU device is visible');
      return;
    case 'tensorflow':
      // tfjs-node-gpu also registers `tensorflow`; on a machine without a GPU it runs on the CPU,
      // and is named for that: native CPU, never "GPU".
      if (!tf.findBackendFactory('tensorflow')) {
        // libtensorflow's start-up notes (CPU features, oneDNN) go to stderr unless told otherwise.
        process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
        restoreUtilForTfjsNode();
        require('@tensorflow/tfjs-node');
      }
      return useBackend('tensorflow');
    case 'wasm': {
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof WasmBackend;
      wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
      return useBackend('wasm');
    }
    case 'cpu':
      return useBackend('cpu');
  }
}

async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} did not initialise`);
  await tf.ready();
}

/** Whether a tfjs-node package and the N-API binding it loads (lib/napi-v<N>/tfjs_binding.node) are installed. */
function hasNativeBinding(pkg: string): boolean {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return false;
  }
  const lib = path.join(dir, 'lib');
  return (
    fs.existsSync(lib) &&
    fs.readdirSync(lib).some((d) => fs.existsSync(path.join(lib, d, 'tfjs_binding.node')))
  );
}

function hasGpuDevice(): boolean {
  const backend = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
  return backend.binding?.isUsingGpuDevice?.() ?? false;
}
