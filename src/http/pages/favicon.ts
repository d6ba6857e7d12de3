/**
 * The Waxseal icon: a red wax seal, as on every page's brand mark. Pages link
 * it as /favicon.svg; /favicon.ico answers with the same image, because
 * browsers ask for that path whatever the page links (and a 404 for it on every
 * page load is noise in the console and the logs).
 */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><defs><radialGradient id="g" cx="35%" cy="35%" r="70%"><stop offset="0" stop-color="#c0504d"/><stop offset="1" stop-color="#9b2c2c"/></radialGradient></defs><circle cx="16" cy="16" r="15" fill="url(#g)"/><circle cx="16" cy="16" r="10" fill="none" stroke="#fff" stroke-opacity=".35" stroke-width="2"/></svg>`;
