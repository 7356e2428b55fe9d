// Injected into the CommonJS bundles: stands in for import.meta.url.
export const import_meta_url = require('url').pathToFileURL(__filename).href;
