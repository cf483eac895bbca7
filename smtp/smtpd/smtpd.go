// Package smtpd holds what authsmtp's two SMTP servers — submission
// (package smtp) and the inbound MX (package smtp/mx) — share: their
// limits and defaults, the budget of message bytes in flight, reading
// DATA into one buffer, the reply for a store failure, and the signer
// interface. It imports store but neither server, so neither server
// imports the other.
package smtpd

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/store"
)

// Limits are the message and session limits both servers apply; zero
// fields get the defaults in parentheses.
type Limits struct {
	MaxSize       int64         // largest message in bytes, advertised as SIZE (25 MiB)
	MaxRecipients int           // recipients per message (100): 452 4.5.3 above
	MaxLine       int           // longest command or body line (4096)
	CmdTimeout    time.Duration // idle time between commands (5m)
	DataTimeout   time.Duration // time to send one message's data (10m)
	MaxConnsPerIP int           // simultaneous connections per remote IP (20)
}

// Defaults fills the zero fields.
func (l *Limits) Defaults() {
	if l.MaxSize <= 0 {
		l.MaxSize = 25 << 20
	}
	if l.MaxRecipients <= 0 {
		l.MaxRecipients = 100
	}
	if l.MaxLine <= 0 {
		l.MaxLine = 4096
	}
	if l.CmdTimeout <= 0 {
		l.CmdTimeout = 5 * time.Minute
	}
	if l.DataTimeout <= 0 {
		l.DataTimeout = 10 * time.Minute
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = 20
	}
}

// Apply sets the limits go-smtp enforces itself on g.
func (l Limits) Apply(g *gosmtp.Server) {
	g.MaxMessageBytes = l.MaxSize
	g.MaxRecipients = l.MaxRecipients
	g.MaxLineLength = l.MaxLine
	g.ReadTimeout = l.CmdTimeout
	g.WriteTimeout = l.CmdTimeout
}

// Signer returns the header fields that sign msg (DKIM-Signature), to be
// put on top of it; nil when msg is not ours to sign.
type Signer interface {
	SignatureFields(msg []byte) ([]byte, error)
}

// Reply makes an SMTP reply; go-smtp sends it as is when a session
// method returns it unwrapped.
func Reply(code int, ec gosmtp.EnhancedCode, format string, args ...any) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: ec, Message: fmt.Sprintf(format, args...)}
}

// Replies both servers give.
var (
	ErrBusyReply = Reply(452, gosmtp.EnhancedCode{4, 3, 1}, "too much mail in flight on this server: try again later")
	ErrDiskFull  = Reply(452, gosmtp.EnhancedCode{4, 3, 1}, "insufficient system storage: try again later")
	ErrStoring   = Reply(451, gosmtp.EnhancedCode{4, 3, 0}, "temporary failure storing the message: try again later")
)

// AcceptError maps a failed commit to the reply and logs the cause.
// overQuota is the reply for a full mailbox: permanent on submission (the
// sender is told now), temporary on the MX (the sending MTA retries).
func AcceptError(log *slog.Logger, err error, overQuota *gosmtp.SMTPError) *gosmtp.SMTPError {
	switch {
	case errors.Is(err, store.ErrOverQuota):
		return overQuota
	case errors.Is(err, syscall.ENOSPC):
		log.Error("storing message: disk full", "err", err)
		return ErrDiskFull
	}
	log.Error("storing message", "err", err)
	return ErrStoring
}
