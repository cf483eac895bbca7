package dnsx

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TXT and MX are asked here rather than through net.Resolver, whose
// answers carry no TTL: the cache (cache.go) keeps each answer as long as
// its TTL says. Mail names are absolute, so no search list applies.

// servers is --dns, or the servers of /etc/resolv.conf (read at each
// query that misses the cache, as they may change).
func (r *Resolver) servers() ([]string, error) {
	if r.server != "" {
		return []string{r.server}, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		return nil, errors.New("no DNS server in /etc/resolv.conf: set --dns")
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// tryTimeout bounds one try of one server, as resolv.conf's default
// timeout does.
const tryTimeout = 5 * time.Second

// ask sends one query (with the DO and AD bits when dnssec) to each
// server in turn, twice round, until one answers with NOERROR or NXDOMAIN, over UDP and
// again over TCP when the answer is truncated. It returns the last
// answer (whatever its RCODE) or, when no server answered at all, the
// last transport error.
func (r *Resolver) ask(ctx context.Context, name string, qtype uint16, dnssec bool) (*dns.Msg, string, error) {
	servers, err := r.servers()
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = dnssec
	q.SetEdns0(1232, dnssec)
	// Each server is tried twice (a UDP query may be lost), each try for
	// at most tryTimeout, all of it within Timeout.
	perTry := min(r.Timeout, tryTimeout)
	var last *dns.Msg
	var lastErr error
	var server string
	for _, server = range slices.Concat(servers, servers) {
		c := &dns.Client{Net: "udp", Timeout: perTry}
		m, _, err := c.ExchangeContext(ctx, q, server)
		if err == nil && m.Truncated {
			c.Net = "tcp"
			m, _, err = c.ExchangeContext(ctx, q, server)
		}
		switch {
		case err != nil:
			lastErr = err
			if ctx.Err() != nil {
				return nil, server, err
			}
			continue
		case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
			return m, server, nil
		}
		last = m
	}
	if last != nil {
		return last, server, nil
	}
	return nil, server, lastErr
}

// query returns the records of qtype in the answer to name, and how long
// they may be kept: the smallest TTL in the answer (a CNAME on the way
// included). No records is a *net.DNSError with IsNotFound, kept for the
// negative TTL (negativeTTL); a failure is a *net.DNSError, temporary,
// never kept. Errors are not wrapped: SPF, DKIM and DMARC libraries look
// for *net.DNSError by type assertion.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, time.Duration, error) {
	m, server, err := r.ask(ctx, name, qtype, false)
	if err != nil {
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
		return nil, 0, &net.DNSError{Err: err.Error(), Name: name, Server: server, IsTimeout: timeout, IsTemporary: true}
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, negativeTTL(m), &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
	default:
		return nil, 0, &net.DNSError{Err: "server misbehaving: " + dns.RcodeToString[m.Rcode], Name: name, Server: server, IsTemporary: true}
	}
	var out []dns.RR
	ttl := uint32(1<<31 - 1)
	for _, rr := range m.Answer {
		ttl = min(ttl, rr.Header().Ttl)
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil, negativeTTL(m), &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
	}
	return out, time.Duration(ttl) * time.Second, nil
}

// negativeTTL is how long a negative answer may be kept: the smaller of
// the TTL of the SOA in its authority section and the SOA's MINIMUM field
// (RFC 2308 §5); 0 (not kept) without an SOA.
func negativeTTL(m *dns.Msg) time.Duration {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

func (r *Resolver) queryTXT(ctx context.Context, name string) (any, time.Duration, error) {
	rrs, ttl, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, ttl, err
	}
	var out []string
	for _, rr := range rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			b.WriteString(txtString(s))
		}
		out = append(out, b.String())
	}
	return out, ttl, nil
}

func (r *Resolver) queryMX(ctx context.Context, name string) (any, time.Duration, error) {
	rrs, ttl, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, ttl, err
	}
	var out []*net.MX
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, ttl, nil
}

// shuffledMX is a copy of mxs (sorted by preference) with the hosts of
// equal preference in random order (RFC 5321 §5.1).
func shuffledMX(mxs []*net.MX) []*net.MX {
	out := make([]*net.MX, len(mxs))
	for i, mx := range mxs {
		c := *mx
		out[i] = &c
	}
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && out[j].Pref == out[i].Pref {
			j++
		}
		rand.Shuffle(j-i, func(a, b int) { out[i+a], out[i+b] = out[i+b], out[i+a] })
		i = j
	}
	return out
}

// txtString undoes the presentation escapes miekg/dns puts in a TXT
// character-string (\" \\ and \DDD for bytes outside printable ASCII),
// giving the bytes as sent, which is what net.Resolver returns.
func txtString(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n < 256 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
