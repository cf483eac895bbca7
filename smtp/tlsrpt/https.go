package tlsrpt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

// HTTPS reporting (RFC 8460 §3, §5.2): a rua of the https: scheme takes
// the gzipped report as the body of a POST with Content-Type
// application/tlsrpt+gzip; any 2xx answer is receipt. The URL comes from
// the recipient domain's DNS, so the host is resolved through the one
// resolver, its certificate verified (WebPKI, or Config.RootCAs), only
// public addresses are dialed (unless Config.PrivateHTTPS, for tests),
// redirects are not followed, and the whole exchange is bounded by
// Config.HTTPTimeout.

// maxRUAURL bounds an https: rua (a DNS TXT record can hold far more).
const maxRUAURL = 2048

// httpsRUA returns u if it is an https: URL a report may be posted to.
func httpsRUA(u string) (string, bool) {
	if len(u) > maxRUAURL || !strings.HasPrefix(strings.ToLower(u), "https://") {
		return "", false
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Hostname() == "" || p.User != nil || p.Fragment != "" || len(p.String()) > maxRUAURL {
		return "", false
	}
	return p.String(), true
}

// post sends the gzipped report to an https: rua.
func (r *Reporter) post(ctx context.Context, rua string, gz []byte) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rua, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	req.Header.Set("User-Agent", "authsmtp TLS reporter ("+r.cfg.Hostname+")")
	resp, err := r.httpClient(req.URL.Hostname()).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

// httpClient dials host's addresses as the one resolver gives them.
func (r *Reporter) httpClient(host string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := r.lookup(ctx, host)
			if err != nil {
				return nil, err
			}
			var allowed []string
			for _, ip := range ips {
				if r.cfg.PrivateHTTPS || publicAddr(ip) {
					allowed = append(allowed, ip.String())
				}
			}
			if len(allowed) == 0 {
				return nil, fmt.Errorf("%s has no public address", host)
			}
			return dnsx.DialFirst(ctx, network, allowed, port)
		},
		TLSClientConfig:        &tls.Config{ServerName: host, RootCAs: r.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
		Proxy:                  nil,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (r *Reporter) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip}, nil
	}
	addrs, err := r.cfg.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no address for " + host)
	}
	return out, nil
}

// publicAddr says whether ip is an address of the internet at large:
// not loopback, private, link-local, shared (RFC 6598) or unspecified.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !netip.MustParsePrefix("100.64.0.0/10").Contains(ip)
}

// defaultHTTPTimeout bounds one HTTPS report delivery.
const defaultHTTPTimeout = 30 * time.Second
