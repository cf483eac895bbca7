package dmarcrpt_test

import (
	"github.com/authsmtp/authsmtp/smtp/dmarcrpt"
	"github.com/authsmtp/authsmtp/store"
)

// The store implements what reporting asks of it.
var _ dmarcrpt.Store = (*store.Store)(nil)
