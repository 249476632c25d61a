/** Digest test vectors shared by the spec files (not part of the public API). */

/** RFC 7616 section 3.9.1: the challenge (SHA-256 variant), folded as in the RFC. */
export const RFC7616_CHALLENGE =
  'Digest\r\n       realm="http-auth@example.org",\r\n       qop="auth, auth-int",\r\n       algorithm=SHA-256,\r\n' +
  '       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';

/** RFC 7616 section 3.9.1: the SHA-256 Authorization. */
export const RFC7616_AUTHORIZATION_SHA256 =
  'Digest username="Mufasa",\r\n       realm="http-auth@example.org",\r\n       uri="/dir/index.html",\r\n       algorithm=SHA-256,\r\n' +
  '       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n       nc=00000001,\r\n' +
  '       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",\r\n       qop=auth,\r\n' +
  '       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",\r\n' +
  '       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';

export const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  realm: 'http-auth@example.org',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  nc: '00000001',
  sha256Response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  md5Response: '8ca523f5e9506fed4657c9700eebdbec',
} as const;

/** RFC 2617 section 3.5. */
export const RFC2617_CHALLENGE =
  'Digest\r\n                 realm="testrealm@host.com",\r\n                 qop="auth,auth-int",\r\n' +
  '                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n                 opaque="5ccc069c403ebaf9f0171e9517f40e41"';

export const RFC2617_AUTHORIZATION =
  'Digest username="Mufasa",\r\n                 realm="testrealm@host.com",\r\n                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n' +
  '                 uri="/dir/index.html",\r\n                 qop=auth,\r\n                 nc=00000001,\r\n                 cnonce="0a4f113b",\r\n' +
  '                 response="6629fae49393a05397450978507c4ef1",\r\n                 opaque="5ccc069c403ebaf9f0171e9517f40e41"';

export const RFC2617 = {
  username: 'Mufasa',
  password: 'Circle Of Life',
  realm: 'testrealm@host.com',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  cnonce: '0a4f113b',
  response: '6629fae49393a05397450978507c4ef1',
} as const;
