package smtpd

import (
	"log/slog"

	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
)

// Service is what every SMTP listener of ours (submission and the MX) is
// configured with. smtp.Config and mx.Config embed it, so these fields and
// their defaults exist once; each server adds only its own.
type Service struct {
	Hostname string // EHLO name, banner, authserv-id (localhost)
	Limits
	// InFlight bounds the message bytes held at once, shared by both
	// servers (nil: a budget of the server's own, DefaultInFlight(MaxSize)).
	InFlight *Budget
	// SpoolDir holds the spool files of messages over SpoolAbove while
	// they are received ("": they stay in memory).
	SpoolDir string
	Logger   *slog.Logger
	Metrics  *metrics.Metrics // counts connections, logins, messages (nil: off)
	// IDs numbers connections (the process's one counter); nil: our own.
	IDs *listen.IDs
	// Health learns when a listener stops for good (nil: not reported).
	Health *listen.Health
}

// Defaults fills the zero fields. A server with other limit defaults (the
// MX's longer lines) sets them before calling it.
func (s *Service) Defaults() {
	if s.Hostname == "" {
		s.Hostname = "localhost"
	}
	s.Limits.Defaults()
	if s.InFlight == nil {
		s.InFlight = NewBudget(DefaultInFlight(s.MaxSize))
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.IDs == nil {
		s.IDs = new(listen.IDs)
	}
}
