package serve

import (
	"context"

	"github.com/authsmtp/authsmtp/smtp"
	"github.com/authsmtp/authsmtp/smtp/dkim"
)

// startSMTP builds the submission pipeline (also used by webmail through
// srv.pipeline) and starts the submission listeners: --submission with
// STARTTLS and --submissions with implicit TLS; an empty address is off.
func (srv *server) startSMTP(ctx context.Context) error {
	cfg := srv.cfg
	srv.pipeline = smtp.NewPipeline(srv.st, cfg.Hostname, srv.log.With("service", "submission"))
	srv.pipeline.Capture = cfg.Capture
	srv.pipeline.Signer = dkim.New(srv.st)
	if cfg.Submission == "" && cfg.Submissions == "" {
		return nil
	}
	// Mail ports offer their own ALPN id only, so a browser offering
	// http/1.1 fails the handshake instead of being bounced here (ALPACA).
	tlsConfig := srv.tls.TLSConfig("smtp")
	sub := smtp.NewServer(smtp.Config{
		Hostname:      cfg.Hostname,
		MaxSize:       cfg.MaxSize,
		MaxRecipients: cfg.MaxRecipients,
		MaxLine:       cfg.MaxLine,
		CmdTimeout:    cfg.CmdTimeout,
		DataTimeout:   cfg.DataTimeout,
		MaxConnsPerIP: cfg.MaxConnsPerIP,
		Logger:        srv.log,
		IDs:           &srv.ids,
		Health:        &srv.health,
		Metrics:       srv.metrics,
	}, srv.st, srv.pipeline, tlsConfig)
	srv.onStop("smtp", sub.Shutdown)
	return srv.serveListeners("smtp", []listener{
		{"submission", cfg.Submission, sub.ServeSubmission},
		{"submissions", cfg.Submissions, sub.ServeSubmissions},
	})
}
