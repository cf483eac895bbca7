package smtp

import "github.com/authsmtp/authsmtp/store"

// The store implements what submission asks of it.
var _ Store = (*store.Store)(nil)
