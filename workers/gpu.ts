import { runWorker } from './run-worker';

runWorker('gpu').catch((err) => {
  console.error(err);
  process.exit(1);
});
