/** Builds a value on first use: handlers read their configuration lazily, so importing a module never throws. */

/** Returns a function that calls `build` once and then returns its result (or rethrows its error). */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}
