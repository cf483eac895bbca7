package webui

import "github.com/authsmtp/authsmtp/store"

// The store implements what the web UI asks of it.
var _ Store = (*store.Store)(nil)
