package tlsrpt_test

import (
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
	"github.com/authsmtp/authsmtp/store"
)

// The store implements what reporting asks of it.
var _ tlsrpt.Store = (*store.Store)(nil)
