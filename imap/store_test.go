package imap

import "github.com/authsmtp/authsmtp/store"

// The store implements what IMAP asks of it.
var _ Store = (*store.Store)(nil)
