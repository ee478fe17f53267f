/** Typed events with isolated listeners. */

type Listener<T> = (payload: T) => void;

/** Emits the events of `Events`; a listener that throws does not stop the others. */
export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Listen to one event; returns the function that stops listening. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<Events[K]>)(payload);
      } catch (err) {
        // One listener's bug must not stop delivery to the others, nor the client itself.
        console.error(err);
      }
    }
  }
}
