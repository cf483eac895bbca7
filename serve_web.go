package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/webui"
)

// startWeb serves the admin panel and webmail on --https and the redirect
// to HTTPS on --http. Either may be off ("").
func (srv *server) startWeb(ctx context.Context) error {
	cfg := srv.cfg
	if cfg.HTTPS == "" && cfg.HTTP == "" {
		return nil
	}
	gin.SetMode(gin.ReleaseMode)
	ui, err := webui.New(srv.webConfig())
	if err != nil {
		return err
	}
	errLog := slog.NewLogLogger(srv.log.With("service", "https").Handler(), slog.LevelWarn)
	httpsPort := ""
	if cfg.HTTPS != "" {
		ln, err := srv.listen("https", cfg.HTTPS)
		if err != nil {
			return err
		}
		_, httpsPort, _ = net.SplitHostPort(ln.Addr().String())
		hs := &http.Server{
			Handler:           ui.Handler(),
			TLSConfig:         srv.tls.TLSConfig("h2", "http/1.1"),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          errLog,
		}
		go func() {
			if err := hs.Serve(tls.NewListener(ln, hs.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				srv.log.Error("https stopped", "err", err)
			}
		}()
		srv.onStop("https", func(ctx context.Context) error {
			// Server-sent event streams never end on their own: give
			// Shutdown a bound, then close what is left.
			sctx, cancel := context.WithTimeout(ctx, drainTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return hs.Close()
			}
			return nil
		})
	}
	if cfg.HTTP != "" {
		ln, err := srv.listen("http", cfg.HTTP)
		if err != nil {
			return err
		}
		// ACME HTTP-01 challenges are answered before the redirect.
		var h http.Handler = srv.tls.HTTPChallengeHandler(webui.RedirectHandler(httpsPort))
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ErrorLog: errLog}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				srv.log.Error("http stopped", "err", err)
			}
		}()
		srv.onStop("http", func(ctx context.Context) error {
			sctx, cancel := context.WithTimeout(ctx, drainTimeout)
			defer cancel()
			return hs.Shutdown(sctx)
		})
	}
	return nil
}

// webConfig wires the web UI to the rest of the server.
func (srv *server) webConfig() webui.Config {
	wc := webui.Config{
		Store:    srv.st,
		Hostname: srv.cfg.Hostname,
		Logger:   srv.log.With("service", "web"),
		MaxSize:  srv.cfg.MaxSize,
		Capture:  srv.cfg.Capture,
		Certs:    srv.webCerts,
	}
	return wc
}

// webCerts describes the certificate the HTTPS listener serves now.
func (srv *server) webCerts() []webui.CertInfo {
	c, err := srv.tls.GetCertificate(&tls.ClientHelloInfo{ServerName: srv.cfg.Hostname})
	if err != nil || c == nil || len(c.Certificate) == 0 {
		msg := "no certificate"
		if err != nil {
			msg = err.Error()
		}
		return []webui.CertInfo{{Names: []string{srv.cfg.Hostname}, Error: msg}}
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return []webui.CertInfo{{Names: []string{srv.cfg.Hostname}, Error: err.Error()}}
		}
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	if leaf.Issuer.String() == leaf.Subject.String() {
		issuer += " (self-signed, mode " + srv.tls.Mode() + ")"
	}
	return []webui.CertInfo{{Names: leaf.DNSNames, Issuer: issuer, NotAfter: leaf.NotAfter}}
}
