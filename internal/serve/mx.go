package serve

import (
	"context"
	"fmt"

	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/milters"
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
	dnsbl, err := mx.ParseDNSBL(cfg.DNSBL)
	if err != nil {
		return err
	}
	dnswl, err := mx.ParseDNSWL(cfg.DNSWL)
	if err != nil {
		return fmt.Errorf("--dnswl: %w", err)
	}
	mxMilters, err := milters.Parse(cfg.Milter)
	if err != nil {
		return err
	}
	if err := checkMilterDefault(cfg.MilterDefault); err != nil {
		return err
	}
	evals, err := srv.startDMARCReports()
	if err != nil {
		return err
	}
	m, err := mx.New(mx.Config{
		DMARCEvals:   evals,
		NoJunkFilter: !cfg.JunkFilter, Junk: srv.st.Junk, DNSBL: dnsbl, DNSWL: dnswl, DNSListTimeout: cfg.DNSListTimeout,
		OutboundIP: cfg.OutboundIP, Milters: mxMilters, MilterTimeout: cfg.MilterTimeout, MilterDefaultAccept: cfg.MilterDefault == "accept",
		Service:      srv.smtpService(mxLimits(cfg)),
		PerIPPerHour: cfg.MXPerIPPerHour, Capture: cfg.Capture, Resolver: res, Signer: dkim.New(srv.st),
	}, srv.st, srv.tls.TLSConfig("smtp"))
	if err != nil {
		return err
	}
	srv.mu.Lock()
	srv.mx = m
	srv.mu.Unlock()
	srv.onStop("mx", m.Shutdown)
	return srv.serveListeners("mx", []listener{{"mx", cfg.MX, m.Serve}})
}
