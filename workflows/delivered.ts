import { rethrowUnlessFailure } from './failures';

/** Whether a signal reached its workflow (false: it does not run, or no longer). A bug is rethrown. */
export function delivered(sent: Promise<void>): Promise<boolean> {
  return sent.then(
    () => true,
    (err: unknown) => {
      rethrowUnlessFailure(err);
      return false;
    },
  );
}
