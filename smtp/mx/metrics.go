package mx

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/metrics"
)

// count records one command's outcome: a 2xx reply to DATA is an
// accepted message, any 4xx/5xx a refusal by the reason its code gives.
func (s *Server) count(err error) {
	if err == nil {
		return
	}
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		s.cfg.Metrics.Refused(metrics.ProtoMX, metrics.ReasonOther)
		return
	}
	if se.Code < 400 {
		s.cfg.Metrics.Accepted(metrics.ProtoMX)
		return
	}
	s.cfg.Metrics.Refused(metrics.ProtoMX, metrics.ReasonFor(se.Code, [3]int(se.EnhancedCode)))
}
