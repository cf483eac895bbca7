package acme

import "github.com/authsmtp/authsmtp/store"

// The store implements the certificate storage ACME asks of it.
var _ CertStore = (*store.Store)(nil)
