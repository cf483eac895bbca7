package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/metrics"
)

// refused counts a refusal by the reason its reply code gives.
func (s *Server) refused(err error) {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		s.cfg.Metrics.Refused(metrics.ProtoSubmission, metrics.ReasonFor(se.Code, [3]int(se.EnhancedCode)))
		return
	}
	s.cfg.Metrics.Refused(metrics.ProtoSubmission, metrics.ReasonOther)
}
