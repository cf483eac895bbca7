package dnsx

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DNSSEC: authsmtp does not validate signatures itself. With --dnssec the
// configured resolver (--dns, or the system's) is trusted to validate, as a
// local Unbound or a resolver on the same host does, and the AD bit of its
// answers says whether an answer is authenticated (RFC 6840 §5.8). Without
// --dnssec every answer counts as insecure, so DANE never applies: an AD bit
// from a resolver across an untrusted network proves nothing.

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // the certificate association data
}

// String is the record in presentation form, as TLSRPT and logs show it.
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %x", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// ErrBogus is an answer the resolver could not get or validate (SERVFAIL
// from a validating resolver means bogus or unreachable): for DANE a
// temporary failure, never a reason to downgrade.
var ErrBogus = errors.New("DNS lookup failed (SERVFAIL)")

// Secure reports whether the RRset of name and qtype exists or is denied
// with the AD bit set by a trusted resolver. It is false without --dnssec.
func (r *Resolver) Secure(ctx context.Context, name string, qtype uint16) (bool, error) {
	if !r.DNSSEC {
		return false, nil
	}
	m, err := r.exchange(ctx, name, qtype)
	if err != nil {
		return false, err
	}
	return m.AuthenticatedData, nil
}

// LookupTLSA returns the TLSA records of _port._tcp.host and whether they
// are authenticated. Without --dnssec it asks nothing and returns none.
// A name or type that does not exist is no records and no error.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port int) ([]TLSA, bool, error) {
	if !r.DNSSEC {
		return nil, false, nil
	}
	name := fmt.Sprintf("_%d._tcp.%s", port, strings.TrimSuffix(host, "."))
	m, err := r.exchange(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	var out []TLSA
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				continue // a malformed record is unusable (RFC 7672 §2.2)
			}
			out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
		}
	}
	return out, m.AuthenticatedData, nil
}

// exchange asks the configured servers with the DO bit (and AD, RFC 6840
// §5.7) set (ask, in query.go).
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m, _, err := r.ask(ctx, name, qtype, true)
	if err != nil {
		return nil, fmt.Errorf("looking up %s %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return m, nil
	}
	return nil, fmt.Errorf("looking up %s %s: %s: %w", dns.TypeToString[qtype], name, dns.RcodeToString[m.Rcode], ErrBogus)
}

// SecureMX reports whether the MX RRset of domain (or its denial, for a
// domain without MX) is authenticated (RFC 7672 §2.2.1).
func (r *Resolver) SecureMX(ctx context.Context, domain string) (bool, error) {
	return r.Secure(ctx, domain, dns.TypeMX)
}

// SecureHost reports whether the address records of an MX host are
// authenticated, the condition for looking up its TLSA records (RFC 7672
// §2.2.2), and the name they are at: host, or the end of the CNAME chain
// host leads through (the whole answer, chain included, carries the one
// AD bit).
func (r *Resolver) SecureHost(ctx context.Context, host string) (target string, secure bool, err error) {
	target = strings.TrimSuffix(host, ".")
	if !r.DNSSEC {
		return target, false, nil
	}
	m, err := r.exchange(ctx, host, dns.TypeA)
	if err != nil {
		return target, false, err
	}
	// Follow the chain from host as the answer gives it, a bounded number
	// of steps (a loop or a long chain ends it where it is).
	name := dns.Fqdn(target)
	for range 8 {
		next := ""
		for _, rr := range m.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) {
				next = cn.Target
				break
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	return strings.ToLower(strings.TrimSuffix(name, ".")), m.AuthenticatedData, nil
}
