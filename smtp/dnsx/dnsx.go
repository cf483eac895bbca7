// Package dnsx is authsmtp's one DNS resolver. Every lookup of the program
// (MX and A/AAAA for delivery, SPF, DKIM keys, DMARC, the DNS check of
// `authsmtp domain dns --check`) goes through a *Resolver built once in
// main from --dns, so tests answer every query from their own DNS server
// on loopback.
package dnsx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Resolver wraps a net.Resolver that talks to one server (or the system's
// when built with an empty address). It satisfies the resolver interface
// of blitiri.com.ar/go/spf and gives go-msgauth its LookupTXT.
type Resolver struct {
	*net.Resolver
	// Timeout bounds each lookup made through the helpers below.
	Timeout time.Duration
	// CacheTTL is the longest TXT, MX and address answers are reused,
	// whatever their TTL (see cache.go); 0 turns the cache off.
	CacheTTL time.Duration
	// DNSSEC trusts the server to validate: the AD bit of its answers
	// counts (dnssec.go). Set from --dnssec.
	DNSSEC bool

	server string // host:port of --dns; "" for the system's
	cache  answerCache
	now    func() time.Time // the cache's clock; nil: time.Now (tests set it)
}

// New returns a resolver for server "host:port"; "" uses the system's.
func New(server string) (*Resolver, error) {
	r := &Resolver{Resolver: &net.Resolver{}, Timeout: 20 * time.Second, CacheTTL: time.Hour}
	if server == "" {
		return r, nil
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
		if _, _, err := net.SplitHostPort(server); err != nil {
			return nil, fmt.Errorf("--dns %q: want host:port: %w", server, err)
		}
	}
	r.server = server
	var d net.Dialer
	r.Resolver = &net.Resolver{
		PreferGo: true,
		// The Go resolver asks us to dial the servers of resolv.conf;
		// we dial ours instead, keeping the network (udp, or tcp after
		// a truncated answer).
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
	return r, nil
}

// LookupTXTSimple is LookupTXT with the resolver's timeout and no context,
// the form go-msgauth's dkim and dmarc options take.
func (r *Resolver) LookupTXTSimple(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	return r.LookupTXT(ctx, name)
}

// IsNotFound reports whether err says the name or record does not exist
// (a permanent answer), as opposed to a failure to get an answer.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// Host is one place to deliver to: a host name and its addresses.
type Host struct {
	Name  string
	Addrs []string // IP addresses, in the order to try
}

// ErrNullMX is a domain that says it takes no mail (RFC 7505).
var ErrNullMX = errors.New("the domain accepts no mail (null MX)")

// ErrNoMailDomain is a domain with neither MX nor address records: a
// permanent failure.
var ErrNoMailDomain = errors.New("the domain has no MX and no address records")

// MailHosts returns the hosts that take mail for domain, best first: its
// MX records in preference order, or the domain itself (its A/AAAA) when
// it has no MX (RFC 5321 §5.1). A host whose addresses cannot be found is
// left out; if none is left, the last lookup error is returned.
func (r *Resolver) MailHosts(ctx context.Context, domain string) ([]Host, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	mxs, err := r.LookupMX(ctx, domain)
	var names []string
	switch {
	case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, ErrNullMX
	case err == nil && len(mxs) > 0:
		// net.Resolver sorts by preference and shuffles equal ones.
		for _, mx := range mxs {
			names = append(names, strings.TrimSuffix(mx.Host, "."))
		}
	case err == nil || IsNotFound(err):
		names = []string{domain}
	default:
		return nil, fmt.Errorf("looking up MX of %s: %w", domain, err)
	}
	var hosts []Host
	var lastErr error
	for _, n := range names {
		ips, err := r.LookupIPAddr(ctx, n)
		if err != nil {
			lastErr = fmt.Errorf("looking up %s: %w", n, err)
			continue
		}
		h := Host{Name: n}
		for _, ip := range ips {
			h.Addrs = append(h.Addrs, ip.IP.String())
		}
		if len(h.Addrs) > 0 {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		if len(mxs) == 0 && (lastErr == nil || IsNotFound(lastErr)) {
			return nil, fmt.Errorf("%w: %s", ErrNoMailDomain, domain)
		}
		if lastErr == nil {
			lastErr = fmt.Errorf("no address for the mail hosts of %s", domain)
		}
		return nil, lastErr
	}
	return hosts, nil
}
