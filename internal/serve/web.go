package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/smtp"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
	"github.com/authsmtp/authsmtp/store"
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
			Handler:           srv.mtaSTSHandler(ui.Handler()),
			TLSConfig:         srv.tls.TLSConfig("h2", "http/1.1"),
			ReadHeaderTimeout: 10 * time.Second,
			// Bounds a slow upload of a signed-in session; a request
			// without a session gets 10 s and 64 KiB for its body
			// (webui). No WriteTimeout, since the new-mail stream of
			// webmail stays open for as long as the page does.
			ReadTimeout:    5 * time.Minute,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       errLog,
		}
		go func() {
			// The per-IP cap applies before the TLS handshake, so a flood
			// of keep-alive connections from one address costs 20
			// descriptors, not all of them.
			gl := srv.guard(ln, "https", listen.NewPerIP(cfg.MaxConnsPerIP))
			if err := hs.Serve(tls.NewListener(gl, hs.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
			if err := hs.Serve(srv.guard(ln, "http", listen.NewPerIP(cfg.MaxConnsPerIP))); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
		Store:       srv.st,
		Events:      srv.st.Events,
		Throttle:    srv.st.Throttle,
		Junk:        srv.st.Junk,
		Hostname:    srv.cfg.Hostname,
		Logger:      srv.log.With("service", "web"),
		MaxSize:     srv.cfg.MaxSize,
		Capture:     srv.cfg.Capture,
		Certs:       srv.webCerts,
		DNS:         srv.webDNS,
		ReverseName: srv.reverseName,
		// /healthz turns red when a listener stopped for good.
		Listeners: srv.health.Err,
		Metrics:   srv.metrics,
	}
	wc.MailPorts = srv.mailPorts
	wc.DNSLists = srv.webDNSLists
	wc.Autoconfig = srv.autoconfigHandler()
	// A nil *smtp.Pipeline must not become a non-nil interface.
	if srv.pipeline != nil {
		wc.Submitter = webSubmitter{srv.pipeline}
	}
	return wc
}

// webSubmitter hands webmail's messages to the submission pipeline and
// turns its SMTP refusals into webui's own error type: webui knows
// nothing of SMTP replies.
type webSubmitter struct{ p *smtp.Pipeline }

func (w webSubmitter) Submit(ctx context.Context, who store.Principal, from string, rcpts []string, msg []byte) (*store.Accepted, error) {
	acc, err := w.p.Submit(ctx, who, from, rcpts, msg)
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return nil, &webui.Refused{Reason: se.Message}
	}
	return acc, err
}

// webCerts is the certificate status for the dashboard.
func (srv *server) webCerts() []webui.CertInfo {
	var out []webui.CertInfo
	for _, st := range srv.tls.Status() {
		issuer := st.Issuer
		if st.Source != "" {
			issuer += " (" + st.Source + ")"
		}
		out = append(out, webui.CertInfo{Names: strings.Split(st.Name, ","), Issuer: issuer, NotAfter: st.NotAfter, Error: st.LastError})
	}
	return out
}

// webDNS lists a domain's records (the same as `authsmtp domain dns`),
// checking each live when asked.
func (srv *server) webDNS(ctx context.Context, domain string, check bool) ([]webui.DNSRecord, error) {
	host := strings.TrimSuffix(srv.cfg.Hostname, ".")
	if host == "" {
		host = "mail." + domain
	}
	recs, err := dnsrecords.For(srv.st, domain, host, srv.ServedPorts())
	if err != nil {
		return nil, err
	}
	var res *dnsx.Resolver
	if check {
		if res, err = srv.newResolver(); err != nil {
			return nil, err
		}
	}
	out := make([]webui.DNSRecord, 0, len(recs))
	for _, r := range recs {
		w := webui.DNSRecord{Type: r.Type, Name: r.Name, Value: r.ZoneValue(), Purpose: r.Purpose()}
		if res != nil {
			state := dnsrecords.Check(res, r)
			w.Checked, w.OK = true, state == "ok"
			if !w.OK {
				w.Found = state
			}
		}
		out = append(out, w)
	}
	// The MTA-STS policy itself, fetched over HTTPS as senders do.
	pol := webui.DNSRecord{Type: "HTTPS", Name: "mta-sts." + domain, Value: mtasts.URL(domain), Purpose: "MTA-STS policy"}
	if res != nil {
		d, err := srv.st.GetDomain(domain)
		if err != nil {
			return nil, err
		}
		state, detail := dnsrecords.CheckPolicy(ctx, dnsrecords.PolicyClient(res, nil, 0), domain, host, d.MTASTSMode)
		pol.Checked, pol.OK = true, state == "ok"
		if !pol.OK {
			pol.Found = state + ": " + detail
		}
	}
	return append(out, pol), nil
}

// reverseName looks an IP address up through the one resolver (the
// reports page names sending sources).
func (srv *server) reverseName(ctx context.Context, ip string) ([]string, error) {
	res, err := srv.newResolver()
	if err != nil {
		return nil, err
	}
	return res.LookupAddr(ctx, ip)
}

// webDNSLists is the MX's DNS list status for the Spam tab (empty while
// the MX is off or not started yet).
func (srv *server) webDNSLists() webui.DNSLists {
	srv.mu.Lock()
	m := srv.mx
	srv.mu.Unlock()
	if m == nil {
		return webui.DNSLists{}
	}
	st := m.DNSListStatus()
	out := webui.DNSLists{OwnIP: st.OwnIP, OwnIPFrom: st.OwnIPFrom, Checked: st.Checked}
	for _, h := range st.Hits {
		out.Hits = append(out.Hits, webui.DNSListHit{Zone: h.Zone, Kind: h.Kind, Hits: h.Hits})
	}
	for _, l := range st.Own {
		out.Own = append(out.Own, webui.OwnListing{Zone: l.Zone, Listed: l.Listed, Err: l.Err})
	}
	return out
}
