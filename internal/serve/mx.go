package serve

import (
	"context"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/mx"
)

// startMX starts the inbound MX on --mx (empty: off). It offers STARTTLS
// with the shared certificates and takes mail for hosted domains only.
func (srv *server) startMX(ctx context.Context) error {
	cfg := srv.cfg
	if cfg.MX == "" {
		return nil
	}
	res, err := srv.newResolver()
	if err != nil {
		return err
	}
	m, err := mx.New(mx.Config{
		Hostname: cfg.Hostname, MaxSize: cfg.MaxSize, MaxRecipients: cfg.MaxRecipients, MaxLine: cfg.MXMaxLine,
		CmdTimeout: cfg.CmdTimeout, DataTimeout: cfg.DataTimeout, MaxConnsPerIP: cfg.MaxConnsPerIP,
		PerIPPerHour: cfg.MXPerIPPerHour, Capture: cfg.Capture, Resolver: res, Signer: dkim.New(srv.st),
		Logger: srv.log, Metrics: srv.metrics, IDs: &srv.ids, Health: &srv.health,
	}, srv.st, srv.tls.TLSConfig("smtp"))
	if err != nil {
		return err
	}
	srv.onStop("mx", m.Shutdown)
	return srv.serveListeners("mx", []listener{{"mx", cfg.MX, m.Serve}})
}
