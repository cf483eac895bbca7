package imap

import (
	"net/mail"
	"time"
)

// mailDate parses a Date header value.
func mailDate(v string) (time.Time, error) { return mail.ParseDate(v) }
