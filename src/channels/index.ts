/**
 * `spindle/channels`: ASGI-style applications, consumers, routers and channel layers.
 *
 * Not built yet: this entry point exists so the package's export map is complete; the
 * channels issue fills it in.
 * @module
 */
export {};
