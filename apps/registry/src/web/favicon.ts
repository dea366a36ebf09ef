/**
 * The marketplace's icon (the header's brand mark: a rounded square in the accent gradient), served as
 * `/favicon.svg` and linked from every page; `/favicon.ico`, which browsers and crawlers ask for on their
 * own, redirects to it.
 */
export const faviconSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#3b4ad9"/><stop offset="1" stop-color="#9b5de5"/></linearGradient></defs>
<rect width="32" height="32" rx="7" fill="url(#g)"/>
<path d="M10 8h7a6 6 0 0 1 0 12h-3v4h-4z M14 12v4h3a2 2 0 0 0 0-4z" fill="#fff" fill-rule="evenodd"/>
</svg>
`;

/** Path of the icon; the page layout links to it. */
export const faviconPath = '/favicon.svg';
