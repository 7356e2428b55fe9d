// A minimal typed event emitter whose subscriptions are undone by calling what `on` returns
// (usable as a VS Code Disposable via `{ dispose: off }`) without importing vscode.
export class Emitter<T> {
  private listeners = new Set<(value: T) => void>();

  on(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  fire(value: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(value);
      } catch {
        // A failing listener must not stop the others (nor the agent event that fired it).
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
