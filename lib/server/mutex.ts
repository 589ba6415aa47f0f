/**
 * A promise-chain mutex: tasks run one at a time, in call order.
 *
 * @module
 */

/** Runs async tasks one after another. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  /** Run `task` after every earlier task settled; returns its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => {});
    return result;
  }
}
