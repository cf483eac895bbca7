package dnsrecords

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
)

// PolicyClient is an HTTPS client that reaches mta-sts.<domain> as a
// sender would: the name resolved through res, port 443 (or port, for
// tests), the certificate verified against roots (nil: the system's).
func PolicyClient(res *dnsx.Resolver, roots *x509.CertPool, port int) *http.Client {
	if port == 0 {
		port = 443
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := res.LookupHost(ctx, host)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			var last error
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, strconv.Itoa(port)))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
	}}
}

// CheckPolicy fetches the MTA-STS policy of domain over HTTPS and
// compares it with the one this server publishes (mode, mx lines,
// max_age, hence the id of the _mta-sts record). It returns "ok",
// "missing" (not served), "wrong" (served, but not ours or invalid) and
// a detail for the admin.
func CheckPolicy(ctx context.Context, client *http.Client, domain, host, mode string) (string, string) {
	want := mtasts.For(mode, host)
	got, _, err := mtasts.Fetch(ctx, client, domain)
	var inv *mtasts.InvalidError
	switch {
	case errors.As(err, &inv):
		return "wrong", fmt.Sprintf("invalid policy: %v", err)
	case err != nil:
		return "missing", err.Error()
	case got.Mode != want.Mode:
		return "wrong", fmt.Sprintf("mode %s, want %s (`authsmtp domain mta-sts %s` sets it)", got.Mode, want.Mode, domain)
	case !slices.Equal(got.MX, want.MX):
		return "wrong", fmt.Sprintf("mx %v, want %v", got.MX, want.MX)
	case got.ID() != want.ID():
		return "wrong", fmt.Sprintf("policy id %s, but _mta-sts publishes id=%s (max_age %d, want %d)", got.ID(), want.ID(), got.MaxAge, want.MaxAge)
	}
	return "ok", fmt.Sprintf("mode %s, mx %s, id %s", got.Mode, got.MX[0], got.ID())
}
