// Package pattern names the protocols a caller of this module may ask for by prefix.
package pattern

// TLS names connections that begin with a TLS handshake.
const TLS = "tls"

// Pattern maps a protocol to the prefixes its connections begin with. This module does not
// sniff prefixes (it serves TLS only), so the values only keep callers' code as it is.
var Pattern = map[string][]string{
	TLS: {"\x16\x03"},
}
