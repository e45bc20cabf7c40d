import { runWorker } from './run-worker';

runWorker('cpu').catch((err) => {
  console.error(err);
  process.exit(1);
});
