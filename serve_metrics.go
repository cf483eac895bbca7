package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/authsmtp/authsmtp/store/metrics"
)

// version is the build's version, set with -ldflags "-X main.version=...".
var version = "dev"

// newMetrics builds the metrics every service reports to; they are served
// on --metrics (off by default).
func (srv *server) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Config{Store: srv.st, Certs: srv.certsInUse, Version: version})
}

// certsInUse is the certificate served for the host name.
func (srv *server) certsInUse() []metrics.Cert {
	if srv.tls == nil {
		return nil
	}
	c, err := srv.tls.GetCertificate(&tls.ClientHelloInfo{ServerName: srv.cfg.Hostname})
	if err != nil || c == nil || len(c.Certificate) == 0 {
		return nil
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil
		}
	}
	return []metrics.Cert{{Name: srv.cfg.Hostname, NotAfter: leaf.NotAfter}}
}

// startMetrics serves /metrics on --metrics. It has no login: bind it to
// loopback or a private network.
func (srv *server) startMetrics(ctx context.Context) error {
	if srv.cfg.Metrics == "" {
		return nil
	}
	ln, err := srv.listen("metrics", srv.cfg.Metrics)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.metrics.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go hs.Serve(ln)
	srv.onStop("metrics", hs.Shutdown)
	return nil
}
