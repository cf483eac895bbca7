package serve

import (
	"context"

	"github.com/authsmtp/authsmtp/imap"
)

// startIMAP starts --imap (STARTTLS) and --imaps (implicit TLS); an empty
// address is off. Both offer only the "imap" ALPN id, so a browser
// offering http/1.1 fails the handshake (ALPACA).
func (srv *server) startIMAP(ctx context.Context) error {
	cfg := srv.cfg
	if cfg.IMAP == "" && cfg.IMAPS == "" {
		return nil
	}
	is := imap.New(imap.Config{
		Store:         srv.st,
		Events:        srv.st.Events,
		TLS:           srv.tls.TLSConfig("imap"),
		MaxSize:       cfg.MaxSize,
		MaxConnsPerIP: cfg.MaxConnsPerIP,
		Logger:        srv.log,
		IDs:           &srv.ids,
		Health:        &srv.health,
		Metrics:       srv.metrics,
	})
	srv.onStop("imap", func(context.Context) error { return is.Close() })
	return srv.serveListeners("imap", []listener{
		{"imap", cfg.IMAP, is.Serve},
		{"imaps", cfg.IMAPS, is.ServeTLS},
	})
}
