package serve

import (
	"context"
	"fmt"

	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/smtp"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/milters"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

// newPipeline builds the one submission pipeline, used by the submission
// listeners and by webmail; start builds it before any service, so no
// service depends on another having started first.
func (srv *server) newPipeline() (*smtp.Pipeline, error) {
	p := smtp.NewPipeline(srv.st, srv.cfg.Hostname, srv.log.With("service", "submission"))
	p.Capture = srv.cfg.Capture
	p.Signer = dkim.New(srv.st)
	ms, err := milters.Parse(srv.cfg.SubmissionMilter)
	if err != nil {
		return nil, fmt.Errorf("--submission-milter: %w", err)
	}
	if len(ms) > 0 {
		if err := checkMilterDefault(srv.cfg.MilterDefault); err != nil {
			return nil, err
		}
		p.Milters = &milters.Chain{Milters: ms, Timeout: srv.cfg.MilterTimeout,
			DefaultAccept: srv.cfg.MilterDefault == "accept", Hostname: srv.cfg.Hostname, Daemon: "submission"}
	}
	return p, nil
}

func checkMilterDefault(d string) error {
	if d != "tempfail" && d != "accept" {
		return fmt.Errorf("--milter-default %q: want tempfail or accept", d)
	}
	return nil
}

// startSMTP starts the submission listeners: --submission with STARTTLS
// and --submissions with implicit TLS; an empty address is off.
func (srv *server) startSMTP(ctx context.Context) error {
	cfg := srv.cfg
	if cfg.Submission == "" && cfg.Submissions == "" {
		return nil
	}
	// Mail ports offer their own ALPN id only, so a browser offering
	// http/1.1 fails the handshake instead of being bounced here (ALPACA).
	tlsConfig := srv.tls.TLSConfig("smtp")
	sub := smtp.NewServer(smtp.Config{Service: srv.smtpService(smtpLimits(cfg))}, srv.st, srv.pipeline, tlsConfig)
	srv.onStop("smtp", sub.Shutdown)
	return srv.serveListeners("smtp", []listener{
		{"submission", cfg.Submission, sub.ServeSubmission},
		{"submissions", cfg.Submissions, sub.ServeSubmissions},
	})
}

// smtpService is what submission and the MX are both configured with:
// one in-flight budget, one spool directory, one connection counter.
func (srv *server) smtpService(limits smtpd.Limits) smtpd.Service {
	return smtpd.Service{Hostname: srv.cfg.Hostname, Limits: limits, InFlight: srv.inFlight(), SpoolDir: srv.st.Dir(),
		Logger: srv.log, Metrics: srv.metrics, IDs: &srv.ids, Health: &srv.health}
}

// smtpLimits are the limits submission and the MX share.
func smtpLimits(c config.Config) smtpd.Limits {
	return smtpd.Limits{MaxSize: c.MaxSize, MaxRecipients: c.MaxRecipients, MaxLine: c.MaxLine,
		CmdTimeout: c.CmdTimeout, DataTimeout: c.DataTimeout, MaxConnsPerIP: c.MaxConnsPerIP}
}

// mxLimits are the MX's: smtpLimits with its own longest line (--mx-max-line).
func mxLimits(c config.Config) smtpd.Limits {
	l := smtpLimits(c)
	l.MaxLine = c.MXMaxLine
	return l
}

// inFlight is the one budget of message bytes in memory (--max-inflight),
// shared by submission and the MX.
func (srv *server) inFlight() *smtpd.Budget {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.inflight == nil {
		n := srv.cfg.MaxInflight
		if n <= 0 {
			n = smtpd.DefaultInFlight(srv.cfg.MaxSize)
		}
		srv.inflight = smtpd.NewBudget(n)
	}
	return srv.inflight
}
