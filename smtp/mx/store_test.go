package mx

import "github.com/authsmtp/authsmtp/store"

// The store implements what the MX asks of it.
var _ Store = (*store.Store)(nil)
