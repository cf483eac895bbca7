package metrics

import "github.com/authsmtp/authsmtp/store"

// The store implements what the gauges read.
var _ Store = (*store.Store)(nil)
