/**
 * Loading the application a command serves: `<module>[:export]`, as daphne's `module:attr`.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ASGIApplication } from '../channels/types.js';

/** The application could not be loaded: printed, exit status 1. */
export class LoadAppError extends Error {
  override name = 'LoadAppError';
}

/** `<module>[:export]` taken apart. */
export interface AppSpec {
  /** A path (relative to the working directory, or absolute) or a package specifier. */
  readonly module: string;
  /** The export to use, a dotted path (`app`, `routers.main`); null for the default export. */
  readonly exportName: string | null;
}

const EXPORT_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/**
 * Split `spec` at its last `:` when what follows names an export (`app.mjs:application`,
 * `@acme/site:routers.main`); otherwise the whole spec is the module.
 * @throws LoadAppError for an empty spec.
 */
export function parseAppSpec(spec: string): AppSpec {
  if (typeof spec !== 'string' || spec.trim() === '') throw new LoadAppError('no application given: spindle serve <module>[:export]');
  const colon = spec.lastIndexOf(':');
  if (colon > 0) {
    const exportName = spec.slice(colon + 1);
    if (EXPORT_PATH.test(exportName)) return { module: spec.slice(0, colon), exportName };
  }
  return { module: spec, exportName: null };
}

/** Whether `module` names a file rather than a package. */
function isPathLike(module: string, cwd: string): boolean {
  return module.startsWith('./') || module.startsWith('../') || isAbsolute(module) || existsSync(resolve(cwd, module));
}

/** The URL to import `module` from, resolved from `cwd` (a path, or a package installed there). */
function moduleUrl(module: string, cwd: string): string {
  if (isPathLike(module, cwd)) {
    const file = resolve(cwd, module);
    if (!existsSync(file)) throw new LoadAppError(`cannot load the application: no such file ${file}`);
    return pathToFileURL(file).href;
  }
  // A package: resolved from the working directory, as the user's own code would.
  try {
    return pathToFileURL(createRequire(join(cwd, 'noop.js')).resolve(module)).href;
  } catch {
    // Packages exporting only an "import" condition cannot be resolved by require: let the
    // import below resolve the bare specifier (from Spindle's location, which covers a project
    // that has Spindle installed locally).
    return module;
  }
}

/**
 * Turn what a module exported into an application: an ASGI function (a router, middleware, a
 * consumer's `asApp()`), or a consumer class (its `asApp()` is called).
 * @throws LoadAppError when it is neither.
 */
export function asApplication(value: unknown, what: string): ASGIApplication {
  if (typeof value === 'function') {
    const asApp = (value as { asApp?: unknown }).asApp;
    if (typeof asApp === 'function') {
      const app: unknown = (asApp as () => unknown).call(value);
      if (typeof app !== 'function') throw new LoadAppError(`${what}.asApp() did not return an application`);
      return app as ASGIApplication;
    }
    if (/^class\b/.test(Function.prototype.toString.call(value))) {
      throw new LoadAppError(`${what} is a class without a static asApp(): export an application, or a consumer class`);
    }
    return value as ASGIApplication;
  }
  throw new LoadAppError(
    `${what} is not an application: expected a function (scope, receive, send) or a consumer class, got ${value === null ? 'null' : typeof value}`,
  );
}

/**
 * Import the application named by `spec` (`<module>[:export]`) from `cwd`: the module's default
 * export, or the named (dotted) export.
 *
 * @throws LoadAppError (as a rejected Promise) when the module cannot be found, fails while
 *   loading (its error is the `cause`), or has no such export, or the export is not an
 *   application.
 *
 * @example
 * ```ts
 * const app = await loadApp('examples/chat/app.js', process.cwd());
 * const router = await loadApp('./site.mjs:routers.api', process.cwd());
 * ```
 */
export async function loadApp(spec: string, cwd: string = process.cwd()): Promise<ASGIApplication> {
  const { module, exportName } = parseAppSpec(spec);
  const url = moduleUrl(module, cwd);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && url === module) {
      throw new LoadAppError(`cannot load the application: no file or package named ${JSON.stringify(module)} (from ${cwd})`, { cause: e });
    }
    const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    throw new LoadAppError(`cannot load the application: importing ${JSON.stringify(module)} failed:\n${detail}`, { cause: e });
  }
  if (exportName === null) {
    if (!('default' in namespace) || namespace.default === undefined) {
      const names = Object.keys(namespace).sort();
      throw new LoadAppError(
        `${JSON.stringify(module)} has no default export; name one with ${module}:<export>` +
          (names.length > 0 ? ` (it exports: ${names.join(', ')})` : ''),
      );
    }
    return asApplication(namespace.default, `the default export of ${JSON.stringify(module)}`);
  }
  let value: unknown = namespace;
  for (const part of exportName.split('.')) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || !(part in (value as object))) {
      throw new LoadAppError(`${JSON.stringify(module)} has no export ${JSON.stringify(exportName)} (it exports: ${Object.keys(namespace).sort().join(', ') || 'nothing'})`);
    }
    value = (value as Record<string, unknown>)[part];
  }
  return asApplication(value, `${JSON.stringify(exportName)} of ${JSON.stringify(module)}`);
}
