/** @traverse/geo: country and region of a client address (geoip-lite), and region maps. */
export * from './geo';
