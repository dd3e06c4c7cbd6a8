// node:util for the shared tests in the browser: inspect() calls the value's
// own `Symbol.for("nodejs.util.inspect.custom")` hook, as Node's does, so the
// hook NDArray defines is still what is checked.
const custom = Symbol.for("nodejs.util.inspect.custom");

export function inspect(value: unknown, options: Record<string, unknown> = {}): string {
  const hook = (value as { [custom]?: unknown } | null)?.[custom];
  if (typeof hook === "function") return String(hook.call(value, 2, options, inspect));
  return typeof value === "string" ? `'${value}'` : String(value);
}
export default { inspect };
