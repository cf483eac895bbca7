package dkim

import "github.com/authsmtp/authsmtp/store"

// The store implements the key lookup signing asks of it.
var _ Keys = (*store.Store)(nil)
