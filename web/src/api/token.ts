// The optional API token (TUNIX_RT_API_TOKEN on the server), kept in localStorage.
// fetch sends it as a bearer header; EventSource and plain links cannot set headers,
// so they carry it as ?access_token=.

const TOKEN_KEY = 'tunix-rt.token';

export function readToken(): string {
  try {
    return window.localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token: string): void {
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled (private mode): the token lives for this page only
  }
}

export function withToken(url: string): string {
  const token = readToken();
  if (!token) return url;
  const sep = url.includes('?') ? '&' : '?';
  return `${url}${sep}access_token=${encodeURIComponent(token)}`;
}
