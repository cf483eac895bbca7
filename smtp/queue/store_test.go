package queue

import "github.com/authsmtp/authsmtp/store"

// The store implements what delivery asks of it.
var _ Store = (*store.Store)(nil)
