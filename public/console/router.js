// Navigation between views without import cycles: app.js registers each view under a name, and
// a view that leads to another calls `go(name, …args)` instead of importing it.

const views = new Map();

/** Registers views: register({ accounts: renderAccounts, … }). */
export function register(table) {
  for (const [name, render] of Object.entries(table)) views.set(name, render);
}

/** Shows the view registered as `name`. */
export function go(name, ...args) {
  const render = views.get(name);
  if (!render) throw new Error(`The console has no view "${name}".`);
  return render(...args);
}
